"""A capacity sweep whose trials last long enough to be killed mid-way (for fault tests).

python tests/slow_sweep.py --storage-path DIR --name NAME [--resume]
"""

import sys

from memtune.core.cli import run_cli
from memtune.core.config import ModelConfig, OptimConfig
from memtune.experiments.capacity.config import DataConfig, TrainConfig
from memtune.tune.sweep import Grid, Sweep, asdict, run_sweep

SLOW = Sweep(
    base=TrainConfig(
        data=DataConfig(seq_len=32),
        optim=OptimConfig(batch_size=16),
        max_steps=2000,
        eval_every=100,
        patience=10**6,
        target_efficiency=1.0,
        target_excess_bits=0.0,
        checkpoint_every=400,
    ),
    space={
        "model": Grid(
            [asdict(ModelConfig.preset("cpu-xxs")), asdict(ModelConfig.preset("cpu-xs"))]
        ),
        "data": {"n_seqs": Grid([16, 32])},
    },
)

if __name__ == "__main__":
    run_cli(lambda argv: run_sweep("capacity", {"default": SLOW}, argv), sys.argv[1:])
