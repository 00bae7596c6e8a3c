"""Capacity scaling (seed 002, Morris et al. 2025): bits a GPT stores about random sequences.

config.py (``TrainConfig``), data.py (uniform random sequences), loop.py (``train``); swept by
``sweeps/capacity.py``, analysed by ``analysis.capacity``.
"""

from memtune.core.experiment import Experiment
from memtune.experiments.capacity.config import TrainConfig

EXPERIMENT = Experiment(
    name="capacity",
    config=TrainConfig,
    loop="memtune.experiments.capacity.loop:train",
    state="memtune.experiments.capacity.loop:TrainState",
    about="bits memorized vs parameters on random binary sequences (seed 002)",
    headline=("bits_memorized", "efficiency"),
)
