"""Threshold: the most random bijective mappings a model of a fixed budget learns exactly (004).

Each grid point is a group (architecture x budget x depth or heads x seed); a
``ThresholdSearcher`` finds each group's threshold by doubling then bisection over the number
of mappings N, running every group's probes side by side on all CPUs.

    python sweeps/threshold.py                    # default preset, < 15 min on 2 cores
    python sweeps/threshold.py --preset smoke     # tests, < 3 min
    python sweeps/threshold.py --preset seed      # seed 004's table, 2 stopping rules, ~1 h
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


def search(
    start: int, n_max: int | Callable[[dict[str, Any]], int], rel_tol: float = 0.0
) -> Callable[[list[dict[str, Any]], int], ThresholdSearcher]:
    """Doubling from ``start`` up to ``n_max`` mappings, then bisection, for every group."""

    def make(groups: list[dict[str, Any]], slots: int) -> ThresholdSearcher:
        groups = [with_rule(g) for g in groups]
        return ThresholdSearcher(
            groups, "data.n_pairs", "memorized", start, n_max, slots, rel_tol=rel_tol
        )

    return make


SEARCHED = "data.n_pairs"

# Seed 004's rows: MLPs at 10K/30K/90K by depth 1-4, transformers at 64K/128K by heads (1 to
# the most that fit) and 1-2 blocks. The transformers take 1, 8 and the most heads, the heads
# the seed's table names (32 at 64K, 64 at 128K).
SEED_TABLE = [
    model("mlp", b, n_layer=d) for b in (10_000, 30_000, 90_000) for d in (1, 2, 3, 4)
] + [
    m
    for b, most in ((64_000, 32), (128_000, 64))
    for n_layer in (1, 2)
    for h in (1, 8, most)
    if fits(m := model("transformer", b, n_layer=n_layer, n_head=h))
]


def seed_table_cap(group: dict[str, Any]) -> int:
    """256 mappings for transformers under the patient rule (a probe of 512 or more would
    take 3-10 CPU-minutes; memorizing 256 already puts them at 3x the seed's 77), else 8192."""
    slow = group["protocol"] == "patient" and group["model"]["arch"] == "transformer"
    return 256 if slow else 8192


PATIENT_MODELS = {
    *(f"mlp-{k}k-L{d}" for k in (10, 30) for d in (1, 2, 3, 4)),
    "mlp-90k-L1",
    "transformer-64k-L1-H1",
    "transformer-64k-L1-H32",
}

# Seed 004's stopping rule beside memtune's ("patient"; stores before it say "converged"),
# the only difference between two searches of one
# model: the seed stops a probe once training plateaus for 3 epochs (no new best token accuracy,
# no 1% lower loss), checked every epoch; memtune's rule trains up to 800 epochs on a cosine
# and gives up only after 150 epochs without progress, so a failure comes at a low lr. A grid
# axis over ``protocol`` names the rule; the search gives each group its rule's fields.
RULES = {
    "seed": {"max_epochs": 800, "eval_every": 1, "patience": 3},
    "patient": {"max_epochs": 800, "eval_every": 10, "patience": 150},
}


def with_rule(group: dict[str, Any]) -> dict[str, Any]:
    """The group's config with the stopping fields of its protocol (others left as they are)."""
    protocol = group["protocol"]
    if protocol and protocol not in RULES:
        raise ConfigError(f"protocol must be one of {', '.join(RULES)} (or ''), got {protocol!r}")
    return {**group, **RULES.get(protocol, {})}


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
    # Seed 004's table on this machine, under the seed's stopping rule and memtune's side by
    # side, 2 seeds each, sized to ~60 minutes on 2 cores (docs/threshold.md has the table).
    # The seed's rule stops early, so every row fits under it. Under the patient rule a probe
    # near the threshold runs its 800 epochs: the 90K MLPs (~2 CPU-min a failing probe) run at
    # depth 1 only, and the 64K/128K transformers (0.2-0.7 s an epoch at N=256) at 64K, 1
    # block, 1 and 32 heads, with the search capped at 512 mappings (">=" if memorized).
    # Searches stop once the first failure is within 2% of the threshold.
    "seed": Sweep(
        base=ThresholdConfig(),
        space={
            "protocol": Grid(["patient", "seed"]),
            "model": Grid(SEED_TABLE),
            "seed": Grid([0, 1]),
        },
        about="seed 004's table under its stopping rule and memtune's, 2 seeds, ~60 min",
        search=search(start=16, n_max=seed_table_cap, rel_tol=0.02),
        searched=SEARCHED,
        keep=lambda c: c["protocol"] == "seed" or c["model"]["name"] in PATIENT_MODELS,
    ),
    "seed-smoke": Sweep(
        base=ThresholdConfig(),
        space={
            "protocol": Grid(["patient", "seed"]),
            "model": Grid([model("mlp", 2000), model("mlp", 2000, n_layer=2)]),
        },
        about="the seed preset's two rules on 2 tiny MLPs, for tests",
        search=search(start=8, n_max=256, rel_tol=0.1),
        searched=SEARCHED,
        keep=lambda c: c["protocol"] == "seed" or c["model"]["name"] == "mlp-2k-L1",
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
