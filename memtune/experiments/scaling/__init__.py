"""Memorization scaling law (seed 000): P(z) of target documents vs epochs and seed-set size.

config.py (``ScalingConfig``), loop.py (``train_scaling``, P(z) at each epoch count); documents
from ``memtune.core.corpus``; swept by ``sweeps/scaling.py``, fitted by ``analysis.scaling``.
"""

from memtune.core.experiment import Experiment
from memtune.experiments.scaling.config import ScalingConfig

EXPERIMENT = Experiment(
    name="scaling",
    config=ScalingConfig,
    loop="memtune.experiments.scaling.loop:train_scaling",
    state="memtune.core.loop:LoopState",
    about="log P(z) = c1 log(epochs) + c2 log(tokens) + c3 (seed 000)",
    x_axis="epochs",  # the law's unit: reports are at epoch counts
    budget=("epochs", "max_epochs"),  # up to the largest epoch count
    headline=("mean_pz", "mean_pz_control"),
)
