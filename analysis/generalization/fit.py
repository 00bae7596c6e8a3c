"""The membership-inference sigmoid: a pure fitter, prediction from explicit parameters.

Morris et al. (2025) fit F1 = 1/2 (1 + c1 sigmoid(c2 (capacity/|D| + c3))) and print constants
that give the reverse of their own table (issue 22), so memtune fits its own points and reports
the shape and where F1 crosses given levels, not constants to compare. The form here:

    y = lo + (1 - lo) * sigmoid(k * (log2 r - x0)),   r = capacity / dataset information

p[0] = lo: the attack's level when the data dwarfs the capacity (chance: 1/2 for AUROC and
F1 at the median threshold, >= 2/3 for the best F1 over thresholds); p[1] = k: steepness per
doubling of r; p[2] = x0: log2 r half-way between lo and 1. The upper level is fixed at 1, a
perfect attack. log2 r because the points span orders of magnitude of r.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats

from analysis.common.fit import FitResult

NAMES = ("lo", "k", "x0")
LEVELS = (0.75, 0.95)  # F1 levels whose crossings are reported (issue 22)


def predict_sigmoid(r: np.ndarray, lo: float, k: float, x0: float) -> np.ndarray:
    """y at capacity ratios ``r`` (> 0) for the parameters (see the module docstring)."""
    z = k * (np.log2(np.asarray(r, dtype=float)) - x0)
    return lo + (1.0 - lo) / (1.0 + np.exp(-z))


def crossing(level: float, lo: float, k: float, x0: float) -> float:
    """The ratio r at which the sigmoid equals ``level``; nan when it never does."""
    if not lo < level < 1.0 or k == 0:
        return float("nan")
    q = (level - lo) / (1.0 - lo)
    with np.errstate(over="ignore"):  # a draw with k near 0 crosses beyond any ratio: inf
        return float(np.exp2(x0 + np.log(q / (1.0 - q)) / k))


@dataclass(frozen=True)
class SigmoidFit:
    """A fitted sigmoid: the parameters with intervals, and their covariance for the bands."""

    result: FitResult
    cov: np.ndarray  # (3, 3) curve_fit's covariance, scaled by the residual variance

    def params(self) -> tuple[float, float, float]:
        lo, k, x0 = (float(v) for v in self.result.params)
        return lo, k, x0

    def draws(self, n: int = 4000, seed: int = 0) -> np.ndarray:
        """(n, 3) parameter draws from the normal approximation (for intervals of derived
        figures: crossings, the band)."""
        rng = np.random.default_rng(seed)
        cov = np.nan_to_num(self.cov)
        return rng.multivariate_normal(self.result.params, cov, size=n, check_valid="ignore")

    def crossing_ci95(self, level: float) -> tuple[float, float, float]:
        """(r, low, high): where the fit crosses ``level`` and a 95% interval from the draws
        (draws that never cross are counted as beyond either end: the interval widens)."""
        r = crossing(level, *self.params())
        if np.isnan(r) or not np.isfinite(self.cov).all():
            return r, float("nan"), float("nan")
        xs = np.array([crossing(level, *p) for p in self.draws()])
        xs = np.where(np.isnan(xs), np.inf, xs)
        with np.errstate(invalid="ignore"):  # quantiles between two inf draws are inf
            low, high = np.quantile(xs, [0.025, 0.975])
        return r, float(low), float(high)

    def band(self, r: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Pointwise 95% band of the curve at ``r`` from the parameter draws."""
        ys = np.array([predict_sigmoid(r, *p) for p in self.draws(seed=seed)])
        return np.quantile(ys, 0.025, axis=0), np.quantile(ys, 0.975, axis=0)


def fit_sigmoid(r: np.ndarray, y: np.ndarray) -> SigmoidFit | None:
    """Least-squares fit of ``predict_sigmoid`` to (r, y) points; None with fewer than 4 points
    or when the fit fails. Intervals are t intervals from curve_fit's covariance with n - 3
    degrees of freedom (rows taken as independent trials).

    Args:
        r: (n,) capacity / dataset information of each trial.
        y: (n,) the attack's figure (F1, AUROC) of each trial.
    """
    r, y = np.asarray(r, dtype=float), np.asarray(y, dtype=float)
    ok = np.isfinite(r) & np.isfinite(y) & (r > 0)
    r, y = r[ok], y[ok]
    if r.size < 4:
        return None
    x = np.log2(r)
    p0 = (float(min(y.min(), 0.9)), 2.0, float(np.median(x)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            params, cov = optimize.curve_fit(
                predict_sigmoid, r, y, p0=p0, bounds=([0.0, 0.0, -30.0], [0.999, 50.0, 30.0]),
                maxfev=20_000,
            )  # fmt: skip
        except (RuntimeError, ValueError):
            return None
    dof = r.size - 3
    stderr = np.sqrt(np.clip(np.diag(cov), 0, None)) if dof > 0 else np.full(3, np.nan)
    t = stats.t.ppf(0.975, dof) if dof > 0 else np.nan
    ci = np.column_stack([params - t * stderr, params + t * stderr])
    rss = float(((y - predict_sigmoid(r, *params)) ** 2).sum())
    tss = float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - rss / tss if tss > 0 else float("nan")
    result = FitResult(NAMES, params, stderr, int(r.size), r2, ci, "t from curve_fit (trials)")
    return SigmoidFit(result, cov if dof > 0 else np.full((3, 3), np.nan))
