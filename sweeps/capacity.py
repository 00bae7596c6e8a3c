"""Capacity: bits memorized vs parameters on random binary sequences (seed 002, Morris et al.).

A grid of model size x dataset size x seed; each trial trains one GPT on N uniform random
sequences of 64 bits and reports H(X) - H(X|theta). Capacity is the plateau over N; the fit of
capacity vs parameters gives bits per parameter (Morris et al.: about 3.6).

    python sweeps/capacity.py                    # default preset, ~5 min on 2 cores
    python sweeps/capacity.py --preset smoke     # tests, < 1 min
    python sweeps/capacity.py --preset cpu       # best fit a 2-core laptop gives in ~1 hour
    python sweeps/capacity.py --preset protocol  # the protocol study (docs/capacity.md)
    python sweeps/capacity.py --preset paper --address auto --gpus-per-trial 0.25
"""

import sys

from memtune.core.cli import run_cli
from memtune.core.config import ModelConfig, OptimConfig, replace
from memtune.experiments.capacity.config import DataConfig, TrainConfig
from memtune.tune.sweep import Grid, Sweep, asdict, run_sweep


def models(*names: str) -> Grid:
    return Grid(asdict(ModelConfig.preset(n)) for n in names)


# CPU presets: batch 128 and lr 0.6/d_model memorized most bits per CPU-second among the
# settings tried for a 4.4K-parameter model (batch 32/64/128/full, lr_scale 0.3-1.2, 60 s runs).
CPU_OPTIM = OptimConfig(batch_size=128, lr_scale=0.6, warmup_steps=100)

# The capacity protocol (issue 13, docs/capacity.md): hold the peak lr until memorized bits
# stall (< 2% in stall_steps), then a cosine down to 5% of the peak, and stop once the bits are
# flat (< 1% over the last third of the run, at least saturation_window steps) at that low lr:
# verdict "saturated". The peak reaches its own plateau in a few thousand steps; the bits come
# while the lr falls, and the longer the peak is held the higher they end (protocol study:
# stall_steps 3,000 ended highest of nine settings, 1.93 bits/param on cpu-xxs).
PROTOCOL_OPTIM = replace(
    CPU_OPTIM, schedule="plateau", stall_steps=3000, stall_tol=0.02, decay_steps=3000,
    min_lr_frac=0.05,
)  # fmt: skip
PROTOCOL = TrainConfig(
    optim=PROTOCOL_OPTIM, max_steps=30_000, eval_every=250, patience=30_000,
    saturation_window=2000, saturation_fraction=1 / 3, saturation_tol=0.01, knee_multiple=2.0,
)  # fmt: skip


def settings(**variants: dict) -> Grid:
    """A one-factor-at-a-time axis over optimizer settings, each named for tables."""
    return Grid(
        asdict(replace(PROTOCOL_OPTIM, name=name, **change)) for name, change in variants.items()
    )


PRESETS = {
    "smoke": Sweep(
        base=replace(
            PROTOCOL,
            optim=replace(PROTOCOL_OPTIM, stall_steps=100, decay_steps=100),
            max_steps=300,
            eval_every=100,
            patience=300,
            saturation_window=100,
            knee_multiple=0.0,
        ),  # fmt: skip
        space={"model": models("cpu-xxs", "cpu-xs"), "data": {"n_seqs": Grid([16, 64])}},
        about="4 tiny trials for tests, under a minute",
    ),
    # One dataset size per model, at 2x its knee, and the protocol shortened to fit ten minutes
    # with the set-up (a fresh venv's first imports take ~3 of them): decay after 1,000 stalled
    # steps over 2,000, a 6,000-step cap. cpu-s runs alone on one CPU (39 ms/step with both
    # busy) while cpu-xs then cpu-xxs (26 and 18 ms/step) share the other. At 15,000 steps it
    # took 14 minutes: cpu-s 1.87, cpu-xs 1.77, cpu-xxs 2.05 bits/param, all still rising.
    # Every trial ends on the cap ("budget"), and the printout says its capacity is a lower bound.
    "default": Sweep(
        base=replace(
            PROTOCOL,
            optim=replace(PROTOCOL_OPTIM, stall_steps=1000, decay_steps=2000),
            max_steps=6000,
            saturation_window=1000,
        ),  # fmt: skip
        space={"model": models("cpu-s", "cpu-xs", "cpu-xxs")},  # longest first
        about="3 trials of a shortened capacity protocol, about 5 minutes on 2 cores",
    ),
    "cpu": Sweep(
        base=replace(PROTOCOL, max_steps=27_000, checkpoint_every=2000),
        # N at 1.5x and 3x each model's knee (at 2 bits/param): past it, where the plateau is,
        # and two seeds give each capacity an interval
        space={
            "model": models("cpu-s", "cpu-xs", "cpu-xxs"),  # longest first: no lone last trial
            "knee_multiple": Grid([3.0, 1.5]),
            "seed": Grid([0, 1]),
        },
        about="12 trials of the capacity protocol, about 45 minutes on 2 cores",
    ),
    # The protocol study (docs/capacity.md): one factor at a time around the protocol, on
    # cpu-xxs at 2x its knee, one seed, the same step cap for all; compare where they end
    # (bits/param, verdict) and the CPU-seconds they took.
    "protocol": Sweep(
        base=replace(PROTOCOL, model=ModelConfig.preset("cpu-xxs"), max_steps=15_000),
        space={
            "optim": settings(
                wsd={},
                cosine={"schedule": "cosine", "min_lr_frac": 0.05},
                stall5={"stall_tol": 0.05},
                stall1k={"stall_steps": 1000},
                decay8k={"decay_steps": 8000},
                lr03={"lr_scale": 0.3},
                batch32={"batch_size": 32},
                wd01={"weight_decay": 0.1},
                beta2_95={"beta2": 0.95},
            )
        },
        about="9 optimizer settings on cpu-xxs, one seed, about 10 minutes on 2 cores",
    ),
    # The seed's models on a GPU cluster, under the same protocol and verdicts: plateau-triggered
    # decay, stop once saturated, N placed around each model's knee (at Morris et al.'s 3.6
    # bits/param) instead of a grid from 16 to 2^19 sequences; lr is swept, capacity takes the best.
    "paper": Sweep(
        base=TrainConfig(
            data=DataConfig(n_seqs=64),
            optim=replace(
                PROTOCOL_OPTIM,
                batch_size=1024,
                lr_scale=0.3,
                warmup_steps=1000,
                stall_steps=20_000,
                decay_steps=50_000,
            ),
            max_steps=1_000_000,
            eval_every=5000,  # an evaluation reads all N (up to ~1.4M sequences for small)
            patience=1_000_000,
            checkpoint_every=20_000,
            saturation_window=20_000,
            knee_multiple=1.0,
            knee_bpp=3.6,
        ),  # fmt: skip
        space={
            "model": models("nano", "micro", "mini", "small"),
            "knee_multiple": Grid([0.5, 1.0, 2.0, 4.0]),
            "optim": {"lr_scale": Grid([0.15, 0.3, 0.6])},
            "seed": Grid([0, 1, 2]),
        },
        about="the seed's models on a GPU cluster (144 trials)",
    ),
}


def main(argv: list[str] | None = None) -> int:
    return run_sweep("capacity", PRESETS, argv)


if __name__ == "__main__":
    run_cli(main, sys.argv[1:])
