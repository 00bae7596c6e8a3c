"""Zipf: how well a model memorizes sequences it sees with Zipfian frequencies (seed 001).

Each trial is one (experiment, seed): one model trained on K random binary sequences drawn with
p ~ rank^-alpha; it records every sequence's loss and accuracy against its presentations so far
(``zipf_records.parquet`` in the trial directory). A preset is a Tune grid over the experiment
axis (the seed's small, medium, large_rope, large_lr, the phenomenological model, and the arms
that isolate one architectural factor for ``--comparative``) and seeds.

    python sweeps/zipf.py                      # default preset, 630 CPU-s: ~6 min on 2 cores
    python sweeps/zipf.py --preset smoke       # tests, well under a minute of training
    python sweeps/zipf.py --preset paper --address auto --gpus-per-trial 0.25
    python -m analysis.zipf results/zipf_default_<time> --comparative --no-show-plots
"""

import sys

from memtune.core.cli import run_cli
from memtune.core.config import ModelConfig, OptimConfig
from memtune.experiments.zipf.config import ZIPF_OPTIM, ArchConfig, ZipfConfig, ZipfDataConfig
from memtune.tune.sweep import Grid, Sweep, asdict, run_sweep


def gpt(
    name: str,
    n_layer: int,
    d_model: int,
    n_head: int,
    pos_emb: str = "learned",
    lr_mult: float = 1.0,
) -> dict:
    """One experiment arm as the plain dict a Grid axis holds."""
    model = ModelConfig(name, n_layer, d_model, n_head, pos_emb=pos_emb)
    return asdict(ArchConfig(name=name, kind="gpt", model=model, lr_mult=lr_mult))


def pheno(d_feature: int) -> dict:
    return asdict(ArchConfig(name="pheno", kind="pheno", d_feature=d_feature))


# CPU sizes, d_model 32 throughout: "large" is the deepest. small/medium/large differ only in
# layers, small/small_4heads only in heads, large/large_rope only in the position embedding,
# large_rope/large_lr only in the learning rate (a third of it): each group is one comparison of
# `python -m analysis.zipf --comparative`.
DEFAULT_ARMS = [
    gpt("small", 1, 32, 2),
    gpt("small_4heads", 1, 32, 4),
    gpt("medium", 2, 32, 2),
    gpt("large", 3, 32, 2),
    gpt("large_rope", 3, 32, 2, pos_emb="rope"),
    gpt("large_lr", 3, 32, 2, pos_emb="rope", lr_mult=1 / 3),
    pheno(16),
]

PRESETS = {
    "smoke": Sweep(
        base=ZipfConfig(
            data=ZipfDataConfig(n_seqs=32, seq_len=16),
            max_steps=150,
            n_evals=5,
        ),
        space={"arch": Grid([gpt("small", 1, 16, 2), gpt("small_1head", 1, 16, 1), pheno(8)])},
        about="3 tiny trials (2 GPTs differing in heads, the pheno model), for tests",
    ),
    # 256 sequences of 64 bits (16K bits) with alpha = 1: rank 1 is drawn 16% of the time, rank
    # 256 0.06%, so 3,000 steps of 32 give presentations from ~60 to ~16,000 per sequence.
    "default": Sweep(
        base=ZipfConfig(),
        space={"arch": Grid(DEFAULT_ARMS)},
        about="7 arms (small, medium, large_rope, large_lr, pheno and 2 contrast arms) x 1 seed, "
        "630 CPU-seconds (11 min with --num-cpus 1)",
    ),
    # The seed's experiments at GPU scale (the seed gives no sizes; these are memtune's):
    # 4,096 sequences of 64 bits, GPTs of 4 to 8 layers (d 64 to 256), 3 seeds, 100K steps of 64.
    "paper": Sweep(
        base=ZipfConfig(
            data=ZipfDataConfig(n_seqs=4096, seq_len=64, alpha=1.0),
            optim=OptimConfig(batch_size=64, warmup_steps=1000, min_lr_frac=1.0),
            max_steps=100_000,
            n_evals=60,
            checkpoint_every=10_000,
        ),
        space={
            "arch": Grid(
                [
                    gpt("small", 4, 64, 4),
                    gpt("medium", 6, 128, 8),
                    gpt("large", 8, 256, 16),
                    gpt("large_rope", 8, 256, 16, pos_emb="rope"),
                    gpt("large_lr", 8, 256, 16, pos_emb="rope", lr_mult=1 / 3),
                    pheno(64),
                ]
            ),
            "seed": Grid([0, 1, 2]),
        },
        about="6 arms x 3 seeds at 4,096 sequences, 100K steps, on a GPU cluster",
    ),
}
assert ZIPF_OPTIM.min_lr_frac == 1.0  # constant lr: presentations mean the same all run long


def main(argv: list[str] | None = None) -> int:
    return run_sweep("zipf", PRESETS, argv)


if __name__ == "__main__":
    run_cli(main, sys.argv[1:])
