"""Memorization prediction (seed 003): which training sequences a model will memorize.

config.py (``PredictConfig``), data.py (a corpus with duplicates; the Pythia loader), loop.py
(``train_predict``: k-extractable labels at checkpoints); analysed by ``analysis.predict``.
"""

from memtune.core.experiment import Experiment
from memtune.experiments.predict.config import PredictConfig

EXPERIMENT = Experiment(
    name="predict",
    config=PredictConfig,
    loop="memtune.experiments.predict.loop:train_predict",  # minutes: no resumable checkpoint
    about="predicting memorized sequences from data-only features (seed 003)",
    headline=("n_memorized", "frac_memorized"),
)
