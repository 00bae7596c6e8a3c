"""Zipf-frequency memorization (seed 001): loss and accuracy of each sequence vs presentations.

config.py (``ZipfConfig``), data.py (sequences, sampler, Bayes reference), models.py (GPT or the
seed's phenomenological model), loop.py (``train_zipf``); per-sequence records go to
``zipf_records.parquet`` in each trial's folder; analysed by ``analysis.zipf``.
"""

from memtune.core.experiment import Experiment
from memtune.experiments.zipf.config import RECORDS_FILE, ZipfConfig

EXPERIMENT = Experiment(
    name="zipf",
    config=ZipfConfig,
    loop="memtune.experiments.zipf.loop:train_zipf",
    state="memtune.experiments.zipf.loop:ZipfState",
    records_file=RECORDS_FILE,
    about="per-sequence loss vs presentations under Zipf sampling (seed 001)",
    headline=("loss_bits_zipf", "seqs_perfect"),
)
