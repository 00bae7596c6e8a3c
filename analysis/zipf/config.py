"""Settings of the Zipf analysis (seed 001) in one place: figure sizes, limits, rank selections.

Edit here, not in the plotting code: ``analysis.zipf.plots`` and ``analysis.zipf.report`` read every
size, limit and selection from this module.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from memtune.experiments.zipf.config import RECORDS_FILE

SEED_EXPERIMENTS = ("small", "medium", "large_rope", "large_lr")  # the seed's configurations
RECORDS_GLOB = f"*/{RECORDS_FILE}"  # the per-sequence records of each trial
CACHE_SUBDIR = "cache"  # processed data, under the analysis output folder unless --cache-dir
PROCESS_VERSION = 2  # bump when processing changes: old caches then no longer match


@dataclass(frozen=True)
class PlotConfig:
    """Sizes and limits shared by every Zipf figure."""

    panel_size: tuple[float, float] = (4.2, 3.4)  # inches per experiment panel
    max_cols: int = 4  # panels per row before wrapping
    compare_size: tuple[float, float] = (10.0, 4.0)  # a comparison figure (loss | accuracy)
    dpi: int = 110
    loss_ylim: tuple[float, float] = (0.0, 1.6)  # bits/token; chance is 1, wrong-and-sure > 1
    accuracy_ylim: tuple[float, float] = (0.35, 1.02)
    presentations_xlim: tuple[float, float] | None = None  # None: from the data (log scale)
    scatter_size: float = 5.0
    scatter_alpha: float = 0.35
    n_bins: int = 16  # log-spaced presentation bins of the comparison curves
    cmap: str = "viridis"


PLOT = PlotConfig()


def _log_ranks(lo: int, hi: int, n: int) -> list[int]:
    if hi < lo:
        return []
    return sorted({int(round(r)) for r in np.geomspace(lo, hi, n)})


# Which ranks the line figures draw, as a function of K (rank 1 is the most frequent).
RANK_SELECTIONS: dict[str, Callable[[int], list[int]]] = {
    "low": lambda K: list(range(1, min(K, 6) + 1)),  # the most frequent sequences
    "mid": lambda K: _log_ranks(max(1, int(K**0.5 / 2)), max(1, int(2 * K**0.5)), 6),
    "high": lambda K: list(range(max(1, K - 5), K + 1)),  # the rarest sequences
    "selected": lambda K: _log_ranks(1, K, 7),  # log-spaced over the whole range
}
DEFAULT_RANK_SELECTION = "selected"
# The seed's analysis defaulted to the small experiment; a memtune store holds every experiment
# of a preset and the sweep analyses them together, so the default here is all of them.
DEFAULT_EXPERIMENT = "all"


def ranks_for(selection: str, n_seqs: int) -> list[int]:
    """The ranks of ``selection`` for a data set of ``n_seqs`` sequences."""
    return RANK_SELECTIONS[selection](n_seqs)
