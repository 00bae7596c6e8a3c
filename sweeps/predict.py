"""Predict: which training sequences get memorized (seed 003); target models and labels.

A grid of model size x seed, every trial on the same corpus of Markov-language sequences with
heavy-tailed duplicate counts. Each trial labels every distinct sequence k-extractable or not
(greedy decoding from a 32-token prefix reproduces the next 32 tokens) at a few checkpoints and
stores the labels, the corpus and its own token log-probabilities in its Tune checkpoint. The
smallest model is the reference whose log-probabilities are surprisal features; the analysis
(``python -m analysis.predict PATH``) predicts the largest model's labels from data-only
features and compares with the baseline "the larger model memorizes what the smallest target
memorized".

    python sweeps/predict.py                    # default preset, 8 minutes with --num-cpus 1
    python sweeps/predict.py --preset smoke     # tests, about a minute with Ray start-up
"""

import sys

from memtune.core.cli import run_cli
from memtune.core.config import ModelConfig
from memtune.experiments.predict.config import DupCorpusConfig, PredictConfig
from memtune.tune.sweep import Grid, Sweep, asdict, run_sweep


def models(*cfgs: ModelConfig) -> Grid:
    return Grid(asdict(m) for m in cfgs)


# The reference is the one-layer cpu-s, the smallest and weakest model, like Pythia-70M next to
# Pythia-1.4B (it memorized 0.4-0.6% of the default corpus); the targets have two layers and
# memorized 1.5% (mem-s), 3.7% (mem-m) and 6.3% (nano) of it (docs/predict.md).
REFERENCE = ModelConfig.preset("cpu-s")
TARGETS = (
    ModelConfig(name="mem-s", n_layer=2, d_model=16, n_head=2),
    ModelConfig(name="mem-m", n_layer=2, d_model=24, n_head=2),
    ModelConfig.preset("nano"),  # 2 x 32
)

PRESETS = {
    "smoke": Sweep(
        base=PredictConfig(
            corpus=DupCorpusConfig(n_unique=192, max_count=30),
            max_steps=300,
            n_evals=2,
        ),
        space={"model": models(REFERENCE, TARGETS[0], TARGETS[2])},
        about="3 tiny trials for tests, about a minute with Ray start-up",
    ),
    "default": Sweep(
        base=PredictConfig(corpus=DupCorpusConfig(n_unique=1024), max_steps=2000, n_evals=4),
        space={"model": models(REFERENCE, *TARGETS), "seed": Grid([0, 1])},
        about="4 models x 2 seeds on 1,024 distinct sequences, 8 minutes with --num-cpus 1",
    ),
}


def main(argv: list[str] | None = None) -> int:
    return run_sweep("predict", PRESETS, argv)


if __name__ == "__main__":
    run_cli(main, sys.argv[1:])
