"""Scaling: P(z) of target documents vs epochs x seed-set size (seed 000, memorization law).

A grid over seed-set sizes (x seeds); each trial trains one GPT on one seed set up to the largest
epoch count and reports P(z) of the targets and controls as it passes each count, so the table
has one row per (seed set, epochs). The fit is log P(z) = c1 log(epochs) + c2 log(D) + c3.

    python sweeps/scaling.py                    # default preset, under 15 min on 2 cores
    python sweeps/scaling.py --preset smoke     # tests, ~1.5 min with Ray start-up
    python sweeps/scaling.py --preset seed      # the seed's 17 epoch counts, 3 seed sets
    python sweeps/scaling.py --preset paper --address auto --gpus-per-trial 1
"""

import sys

from memtune.core.cli import run_cli
from memtune.core.config import CorpusConfig, ModelConfig, OptimConfig, replace
from memtune.experiments.scaling.config import SCALING_OPTIM, ScalingConfig
from memtune.tune.sweep import Grid, Sweep, run_sweep

# The seed's epoch counts; the default preset uses the ones up to 500, the seed preset all.
SEED_EPOCHS = (1, 2, 5, 10, 20, 50, 75, 100, 150, 200, 375, 500, 562, 750, 1000, 1500, 3000)

SEED_GRID = ScalingConfig(
    corpus=CorpusConfig(doc_len=32, prefix_len=8, n_targets=8, n_controls=8),
    optim=replace(SCALING_OPTIM, batch_size=50),
    seed_set_tokens=320,
    eval_epochs=SEED_EPOCHS,
)

PRESETS = {
    "smoke": Sweep(
        base=ScalingConfig(model=ModelConfig.preset("cpu-s"), eval_epochs=(1, 2, 5, 10)),
        space={"seed_set_tokens": Grid([2048, 4096])},
        about="2 tiny trials, 8 rows, for tests, about 1.5 minutes with Ray start-up",
    ),
    # nano (28.6K parameters) on the default Markov language (V=16, 2.76 bits/token): a seed set
    # of 2K tokens is memorized within a few hundred epochs, one of 32K tokens (~90K bits) is not.
    "default": Sweep(
        base=ScalingConfig(eval_epochs=(1, 2, 5, 10, 20, 50, 100, 200, 500)),
        space={"seed_set_tokens": Grid([2048, 4096, 8192, 16384, 32768])},
        about="5 seed sets x 9 epoch counts, about 7 minutes on 2 cores",
    ),
    # The seed's own epoch grid on this machine: all 17 epoch counts (1 to 3,000) on three seed
    # sets spanning 100x. Scaled by tokens per parameter: the seed's 1M-100M tokens for a 150M
    # model are 0.0067-0.67 tokens/param; nano (28.6K) on 320-32,000 tokens is 0.011-1.1.
    # Documents of 32 tokens (prompt 8) so the smallest set holds 10 of them, 8 targets among
    # them; batch 50 documents (the smallest set is one full batch), constant lr as in default.
    "seed": Sweep(
        base=SEED_GRID,
        space={"seed_set_tokens": Grid([32_000, 3_200, 320])},  # longest first
        about="the seed's 17 epoch counts x 3 seed sets (320-32,000 tokens), ~20 min on 2 cores",
    ),
    "seed-smoke": Sweep(
        base=replace(SEED_GRID, eval_epochs=SEED_EPOCHS[:4]),
        space={"seed_set_tokens": Grid([3_200, 320])},
        about="the seed preset's shape with 4 epoch counts, for tests",
    ),
    # The seed's grid: 1M/10M/100M tokens of Wikimedia (Common Pile) x 17 epoch counts, with a
    # ~120M-parameter model. Byte-level documents of 500 bytes (1M tokens = 2000 of them) so each
    # size divides into documents and batches. Needs the hf extra, a hub and a GPU cluster.
    "paper": Sweep(
        base=ScalingConfig(
            model=ModelConfig.preset("large"),
            corpus=CorpusConfig(
                source="hf",
                hf_dataset="common-pile/wikimedia_filtered",
                doc_len=500,
                prefix_len=100,
                n_targets=100,
                n_controls=100,
            ),
            optim=OptimConfig(batch_size=40, lr=3e-4, warmup_steps=500, min_lr_frac=1.0),
            seed_set_tokens=1_000_000,
            eval_epochs=SEED_EPOCHS,
            checkpoint=True,
        ),
        space={"seed_set_tokens": Grid([1_000_000, 10_000_000, 100_000_000])},
        about="the seed's 3 seed sets x 17 epoch counts on a GPU cluster (3 trials)",
    ),
}


def main(argv: list[str] | None = None) -> int:
    return run_sweep("scaling", PRESETS, argv)


if __name__ == "__main__":
    run_cli(main, sys.argv[1:])
