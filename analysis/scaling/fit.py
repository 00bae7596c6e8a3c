"""The memorization scaling law of seed 000, as pure numpy functions.

log P(z) = c1 log(epochs) + c2 log(seed-set tokens) + c3, fitted by ``analysis.common.fit``'s
least squares; ``predict_pz`` takes explicit parameters and no fitted state.
"""

from __future__ import annotations

import numpy as np

from analysis.common.fit import FitResult, fit_ols


def fit_memorization_law(
    epochs: np.ndarray,
    seed_set_tokens: np.ndarray,
    pz: np.ndarray,
    clusters: np.ndarray | None = None,
) -> FitResult:
    """log P(z) = c1 log(epochs) + c2 log(seed_set_tokens) + c3, OLS in log space (seed 000).

    Natural logs. c1 = d log P / d log epochs: the power of epochs (> 0: repetition memorizes);
    c2 = d log P / d log D: the power of the seed-set size (< 0: a larger seed set dilutes each
    document); c3 = log P(z) at one epoch of a one-token seed set, the baseline.

    The rows of one trial (its epoch counts) are one training run, not independent draws: pass
    the trials as ``clusters`` for cluster-robust intervals (without, plain OLS intervals).
    The same law fitted to P(z) targets / P(z) controls (``pz`` = that ratio) separates
    memorization from the language learning that raises both.
    """
    e, d, p = (np.asarray(v, dtype=float) for v in (epochs, seed_set_tokens, pz))
    X = np.column_stack([np.log(e), np.log(d), np.ones_like(e)])
    return fit_ols(X, np.log(p), ("c1", "c2", "c3"), clusters)


def predict_pz(
    epochs: np.ndarray, seed_set_tokens: np.ndarray, c1: float, c2: float, c3: float
) -> np.ndarray:
    """P(z) = exp(c3) * epochs^c1 * seed_set_tokens^c2."""
    e, d = np.asarray(epochs, dtype=float), np.asarray(seed_set_tokens, dtype=float)
    return np.exp(c1 * np.log(e) + c2 * np.log(d) + c3)
