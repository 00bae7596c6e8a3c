"""A threshold search whose probes have known answers and last long enough to kill the driver.

Each group's probe of N mappings sleeps, then reports memorized iff N <= the group's threshold,
so after a crash and ``--resume`` the searcher's answers can be checked exactly.

python tests/slow_threshold_sweep.py --storage-path DIR --name NAME [--resume]
"""

import sys
import time
from typing import Any

from memtune.core.cli import run_cli
from memtune.core.config import replace
from memtune.experiments.threshold.config import BudgetModelConfig, ThresholdConfig
from memtune.tune.searchers import ThresholdSearcher
from memtune.tune.sweep import Grid, Sweep, asdict, run_sweep

THRESHOLDS = {2000: 5, 3000: 23, 4000: 40}  # budget -> the largest N "memorized"
START, N_MAX = 4, 64


def model(budget: int) -> dict[str, Any]:
    m = BudgetModelConfig(arch="mlp", budget=budget)
    return asdict(replace(m, name=m.label))


def known_threshold(config: dict[str, Any]) -> None:
    from ray import tune

    time.sleep(1.5)
    n, budget = config["data"]["n_pairs"], config["model"]["budget"]
    tune.report({"memorized": int(n <= THRESHOLDS[budget]), "n_pairs": n})


SLOW = Sweep(
    base=ThresholdConfig(),
    space={"model": Grid([model(b) for b in THRESHOLDS])},
    search=lambda groups, slots: ThresholdSearcher(
        groups, "data.n_pairs", "memorized", START, N_MAX, slots
    ),
    searched="data.n_pairs",
)

if __name__ == "__main__":
    # no analysis: the probes report only their outcome, not the columns a threshold table needs
    run_cli(
        lambda argv: run_sweep(
            "threshold", {"default": SLOW}, [*argv, "--no-analysis"], trainable=known_threshold
        ),
        sys.argv[1:],
    )
