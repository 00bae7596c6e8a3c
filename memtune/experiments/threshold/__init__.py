"""Memorization threshold (seed 004): the most random bijections a fixed budget learns exactly.

config.py (``ThresholdConfig``, budget sizing), data.py (bijective mappings), models.py (MLP and
decoder at a budget), loop.py (one probe); searched by ``memtune.tune.searchers`` from
``sweeps/threshold.py``, analysed by ``analysis.threshold``.
"""

from memtune.core.experiment import Experiment
from memtune.experiments.threshold.config import ThresholdConfig

EXPERIMENT = Experiment(
    name="threshold",
    config=ThresholdConfig,
    loop="memtune.experiments.threshold.loop:train_threshold",  # probes are short: no resume
    about="largest N of random bijections learned exactly at a fixed budget (seed 004)",
    budget=("epochs", "max_epochs"),  # a probe trains up to max_epochs
    headline=("memorized", "frac_seqs_correct"),
)
