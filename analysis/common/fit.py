"""Fitting laws to results: pure numpy/scipy, no I/O.

Each fitter returns a ``FitResult``; prediction takes explicit parameters, never fitted state.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class FitResult:
    """Least-squares parameters with standard errors and 95% intervals (t distribution)."""

    names: tuple[str, ...]
    params: np.ndarray
    stderr: np.ndarray
    n_points: int
    r2: float
    ci95: np.ndarray = field(repr=False)  # (k, 2) lower and upper bounds

    def as_dict(self) -> dict[str, float]:
        out: dict[str, float] = {"n_points": self.n_points, "r2": self.r2}
        for i, n in enumerate(self.names):
            out[n] = float(self.params[i])
            out[f"{n}_stderr"] = float(self.stderr[i])
            out[f"{n}_ci95_low"] = float(self.ci95[i, 0])
            out[f"{n}_ci95_high"] = float(self.ci95[i, 1])
        return out


def fit_ols(X: np.ndarray, y: np.ndarray, names: tuple[str, ...]) -> FitResult:
    """Ordinary least squares y = X @ p + noise.

    Args:
        X: (n, k) design matrix (include a column of ones for an intercept).
        y: (n,) observations.
        names: k parameter names.
    Returns:
        FitResult; stderr is sqrt(diag(s^2 (X^T X)^-1)) with s^2 = RSS / (n - k), and the
        interval is +- t_{0.975, n-k} stderr (nan when n <= k).
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    n, k = X.shape
    if n < k:
        raise ValueError(f"need at least {k} points to fit {k} parameters, got {n}")
    params, *_ = np.linalg.lstsq(X, y, rcond=None)
    resid = y - X @ params
    rss = float(resid @ resid)
    tss = float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - rss / tss if tss > 0 else float("nan")
    dof = n - k
    if dof > 0:
        cov = rss / dof * np.linalg.pinv(X.T @ X)
        stderr = np.sqrt(np.clip(np.diag(cov), 0, None))
        t = stats.t.ppf(0.975, dof)
    else:
        stderr = np.full(k, np.nan)
        t = np.nan
    ci = np.stack([params - t * stderr, params + t * stderr], axis=1)
    return FitResult(tuple(names), params, stderr, n, r2, ci)


def fit_linear(x: np.ndarray, y: np.ndarray) -> FitResult:
    """y = slope * x + intercept. For capacity vs parameters, slope is bits per parameter."""
    x = np.asarray(x, dtype=float)
    return fit_ols(np.column_stack([x, np.ones_like(x)]), y, ("slope", "intercept"))


def predict_linear(x: np.ndarray, slope: float, intercept: float) -> np.ndarray:
    return slope * np.asarray(x, dtype=float) + intercept


def mean_ci95(values: np.ndarray) -> tuple[float, float, float]:
    """Mean and 95% t interval of a sample (the interval is nan for a single value)."""
    v = np.asarray(values, dtype=float)
    m = float(v.mean())
    if v.size < 2:
        return m, float("nan"), float("nan")
    half = float(stats.t.ppf(0.975, v.size - 1) * v.std(ddof=1) / np.sqrt(v.size))
    return m, m - half, m + half
