"""Threshold: the most random bijective mappings a model of a fixed budget learns exactly (004).

Each grid point is a group (architecture x budget x depth or heads x seed); a
``ThresholdSearcher`` finds each group's threshold by doubling then bisection over the number
of mappings N, running every group's probes side by side on all CPUs.

    python sweeps/threshold.py                    # default preset, < 15 min on 2 cores
    python sweeps/threshold.py --preset smoke     # tests, < 3 min
    python sweeps/threshold.py --preset paper --address auto   # the seed's grid, a cluster
    python sweeps/threshold.py --resume           # continue the newest one where it stopped
"""

import sys
from collections.abc import Callable
from typing import Any

from memtune.core.cli import run_cli
from memtune.core.config import ConfigError, replace
from memtune.experiments.threshold.config import BudgetModelConfig, ThresholdConfig
from memtune.tune.searchers import ThresholdSearcher
from memtune.tune.sweep import Grid, Sweep, asdict, run_sweep


def model(arch: str, budget: int, n_layer: int = 1, n_head: int = 1) -> dict[str, Any]:
    m = BudgetModelConfig(arch=arch, budget=budget, n_layer=n_layer, n_head=n_head)
    return asdict(replace(m, name=m.label))


def fits(m: dict[str, Any]) -> bool:
    """Whether the narrowest model of this shape is within its budget (64 heads need d_model 64,
    53K parameters per block, so 2 blocks of them do not fit in 64K)."""
    try:
        ThresholdConfig(model=BudgetModelConfig(**m))
    except ConfigError:
        return False
    return True


def search(start: int, n_max: int) -> Callable[[list[dict[str, Any]], int], ThresholdSearcher]:
    """Doubling from ``start`` up to ``n_max`` mappings, then bisection, for every group."""

    def make(groups: list[dict[str, Any]], slots: int) -> ThresholdSearcher:
        return ThresholdSearcher(groups, "data.n_pairs", "memorized", start, n_max, slots)

    return make


SEARCHED = "data.n_pairs"

PRESETS = {
    "smoke": Sweep(
        base=ThresholdConfig(max_epochs=200, eval_every=10, patience=60),
        space={"model": Grid([model("mlp", 2000), model("transformer", 3000, n_head=2)])},
        about="2 tiny searches for tests, under 3 minutes",
        search=search(start=8, n_max=256),
        searched=SEARCHED,
    ),
    # Sized to 2 CPU cores: a 10K transformer search alone is ~10 CPU-minutes (a probe at N=256
    # needs ~600 epochs, ~40 s), so one transformer and four MLP searches. The transformer comes
    # first so that the first probes are long enough for Tune to start the second actor.
    "default": Sweep(
        base=ThresholdConfig(max_epochs=800, eval_every=10, patience=150),
        space={
            "model": Grid(
                [
                    model("transformer", 10_000, n_head=2),
                    model("mlp", 10_000),
                    model("mlp", 10_000, n_layer=2),
                    model("mlp", 30_000),
                ]
            ),  # fmt: skip
        },
        about="4 searches (MLP 10K/30K, depth 1-2; transformer 10K), < 15 minutes on 2 cores",
        search=search(start=64, n_max=8192),
        searched=SEARCHED,
    ),
    # The seed's grid: MLPs at 10K/30K/90K by depth, transformers at 64K/128K by heads (and 1-2
    # blocks), three seeds each; longer training so that failures are failures of capacity.
    "paper": Sweep(
        base=ThresholdConfig(max_epochs=5000, eval_every=10, patience=500),
        space={
            "model": Grid(
                [model("mlp", b, n_layer=d) for b in (10_000, 30_000, 90_000) for d in (1, 2, 3, 4)]
                + [
                    m
                    for b in (64_000, 128_000)
                    for n_layer in (1, 2)
                    for h in (1, 2, 4, 8, 16, 32, 64)
                    if fits(m := model("transformer", b, n_layer=n_layer, n_head=h))
                ]
            ),
            "seed": Grid([0, 1, 2]),
        },
        about="the seed's budgets and architectures, 3 seeds (117 searches), for a cluster",
        search=search(start=64, n_max=65_536),
        searched=SEARCHED,
    ),
}


def main(argv: list[str] | None = None) -> int:
    return run_sweep("threshold", PRESETS, argv)


if __name__ == "__main__":
    run_cli(main, sys.argv[1:])
