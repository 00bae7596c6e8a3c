"""Capacity: bits memorized vs parameters on random binary sequences (seed 002, Morris et al.).

A grid of model size x dataset size x seed; each trial trains one GPT on N uniform random
sequences of 64 bits and reports H(X) - H(X|theta). Capacity is the plateau over N; the fit of
capacity vs parameters gives bits per parameter (Morris et al.: about 3.6).

    python sweeps/capacity.py                    # default preset, ~5 min on 2 cores
    python sweeps/capacity.py --preset smoke     # tests, < 1 min
    python sweeps/capacity.py --preset cpu       # best fit a 2-core laptop gives in ~1 hour
    python sweeps/capacity.py --preset paper --address auto --gpus-per-trial 0.25
"""

import sys

from memtune.core.cli import run_cli
from memtune.core.config import ModelConfig, OptimConfig
from memtune.experiments.capacity.config import DataConfig, TrainConfig
from memtune.tune.sweep import Grid, Sweep, asdict, run_sweep


def models(*names: str) -> Grid:
    return Grid(asdict(ModelConfig.preset(n)) for n in names)


# CPU presets: batch 128 and lr 0.6/d_model memorized most bits per CPU-second among the
# settings tried for a 4.4K-parameter model (batch 32/64/128/full, lr_scale 0.3-1.2, 60 s runs).
CPU_OPTIM = OptimConfig(batch_size=128, lr_scale=0.6, warmup_steps=100)

PRESETS = {
    "smoke": Sweep(
        base=TrainConfig(optim=CPU_OPTIM, max_steps=300, eval_every=100, patience=300),
        space={"model": models("cpu-xxs", "cpu-xs"), "data": {"n_seqs": Grid([16, 64])}},
        about="4 tiny trials for tests, under a minute",
    ),
    "default": Sweep(
        base=TrainConfig(optim=CPU_OPTIM, max_steps=2500, eval_every=250, patience=2500),
        space={
            "model": models("cpu-xxs", "cpu-xs", "cpu-s"),
            "data": {"n_seqs": Grid([32, 128, 512])},
            "seed": Grid([0, 1]),
        },
        about="18 trials, about 5 minutes on 2 cores",
    ),
    "cpu": Sweep(
        base=TrainConfig(
            optim=CPU_OPTIM, max_steps=6000, eval_every=500, patience=3000, checkpoint_every=2000
        ),
        # fewer points trained longer: these sizes bracket every model's knee (H(X) of 4K-32K
        # bits against capacities of ~2K-20K), and two seeds give each capacity an interval
        space={
            "model": models("cpu-xxs", "cpu-xs", "cpu-s", "cpu-m"),
            "data": {"n_seqs": Grid([64, 128, 256, 512])},
            "seed": Grid([0, 1]),
        },
        about="32 trials, about an hour on 2 cores",
    ),
    # The seed's simplified table on a GPU cluster. Its dataset sizes (1..512 sequences, at most
    # 32K bits) cannot saturate anything above nano, so N runs up to 2^19 (the small model's
    # ~23M-bit capacity is ~360K sequences); lr is swept and capacity takes the best.
    "paper": Sweep(
        base=TrainConfig(
            data=DataConfig(n_seqs=64),
            optim=OptimConfig(batch_size=1024, lr_scale=0.3, warmup_steps=1000, n_cycles=4),
            max_steps=1_000_000,
            eval_every=2000,
            patience=50_000,
            checkpoint_every=20_000,
        ),
        space={
            "model": models("nano", "micro", "mini", "small"),
            "data": {"n_seqs": Grid([2**k for k in range(4, 20)])},
            "optim": {"lr_scale": Grid([0.15, 0.3, 0.6])},
            "seed": Grid([0, 1, 2]),
        },
        about="the seed's models on a GPU cluster (576 trials)",
    ),
}


def main(argv: list[str] | None = None) -> int:
    return run_sweep("capacity", PRESETS, argv)


if __name__ == "__main__":
    run_cli(main, sys.argv[1:])
