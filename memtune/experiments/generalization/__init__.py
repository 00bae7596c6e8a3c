"""Memorization vs generalization with an exact oracle (Morris et al. 2025, second half).

config.py (``GenConfig``), data.py (a Markov source with exact code lengths, training and
held-out splits), metrics.py (mem_U, held-out excess, membership inference), loop.py
(``train``); per-sequence code lengths go to ``generalization_sequences.parquet`` in each
trial's folder; swept by ``sweeps/generalization.py``, analysed by ``analysis.generalization``.
"""

from memtune.core.experiment import Experiment
from memtune.experiments.generalization.config import RECORDS_FILE, GenConfig

EXPERIMENT = Experiment(
    name="generalization",
    config=GenConfig,
    loop="memtune.experiments.generalization.loop:train",
    state="memtune.experiments.generalization.loop:GenState",
    records_file=RECORDS_FILE,
    about="unintended memorization, held-out loss and MI on an exact Markov source (Morris)",
    headline=("mem_u_bits", "heldout_excess_bits_per_token", "auroc_loss"),
)
