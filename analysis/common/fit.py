"""Fitting laws to results: statsmodels least squares and numpy/scipy, no I/O.

Each fitter returns a ``FitResult``; prediction takes explicit parameters, never fitted state.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class FitResult:
    """Least-squares parameters with standard errors and 95% intervals (t distribution).

    ``interval`` says how the standard errors were computed: ``"OLS"`` (rows independent) or
    ``"cluster-robust by <what> (G clusters, t with G-1 df)"``, when rows of one cluster (one
    trial, one sequence) share their errors and are not independent observations.
    """

    names: tuple[str, ...]
    params: np.ndarray
    stderr: np.ndarray
    n_points: int
    r2: float
    ci95: np.ndarray = field(repr=False)  # (k, 2) lower and upper bounds
    interval: str = "OLS"
    n_clusters: int | None = None
    # (k, k) covariance of params, the same kind as stderr (None when stderr is nan): a
    # prediction's interval needs the covariance of the parameters, not only their errors
    cov: np.ndarray | None = field(default=None, repr=False)

    def as_dict(self) -> dict[str, float]:
        out: dict[str, Any] = {"n_points": self.n_points, "r2": self.r2}
        out["interval"] = self.interval
        if self.n_clusters is not None:
            out["n_clusters"] = self.n_clusters
        for i, n in enumerate(self.names):
            out[n] = float(self.params[i])
            out[f"{n}_stderr"] = float(self.stderr[i])
            out[f"{n}_ci95_low"] = float(self.ci95[i, 0])
            out[f"{n}_ci95_high"] = float(self.ci95[i, 1])
        return out


def fit_ols(
    X: np.ndarray,
    y: np.ndarray,
    names: tuple[str, ...],
    clusters: np.ndarray | None = None,
    cluster_name: str = "trial",
) -> FitResult:
    """Ordinary least squares y = X @ p + noise, by statsmodels.

    Args:
        X: (n, k) design matrix (include a column of ones for an intercept).
        y: (n,) observations.
        names: k parameter names.
        clusters: (n,) labels of the rows' clusters (e.g. trial ids), or None. With clusters the
            standard errors are cluster-robust (statsmodels ``cov_type="cluster"``, small-sample
            corrected) and the interval uses t with G - 1 degrees of freedom, G the number of
            clusters: rows of one cluster count as one observation's worth of evidence. The
            interval is nan unless there are more clusters than parameters.
        cluster_name: what a cluster is, for ``FitResult.interval``.
    Returns:
        FitResult; without clusters stderr is sqrt(diag(s^2 (X^T X)^-1)), s^2 = RSS / (n - k),
        and the interval is +- t_{0.975, n-k} stderr (nan when n <= k).
    """
    import statsmodels.api as sm

    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    n, k = X.shape
    if n < k:
        raise ValueError(f"need at least {k} points to fit {k} parameters, got {n}")
    model = sm.OLS(y, X)
    interval, n_clusters = "OLS", None
    if clusters is not None:
        codes = np.unique(np.asarray(clusters).astype(str), return_inverse=True)[1]
        n_clusters = int(codes.max()) + 1
        interval = f"cluster-robust by {cluster_name} ({n_clusters} clusters, t with G-1 df)"
    with warnings.catch_warnings():  # n == k or too few clusters: nan intervals, said below
        warnings.simplefilter("ignore")
        if clusters is None or n_clusters <= k:  # too few clusters: no robust errors at all
            res = model.fit()
        else:
            res = model.fit(cov_type="cluster", cov_kwds={"groups": codes}, use_t=True)
        params = res.params  # ndarrays: statsmodels returns what it was given
        # cluster-robust errors need more clusters than parameters (their covariance has rank
        # at most G - 1): with fewer they come out 0 or tiny, so they are nan instead
        ok = res.df_resid > 0 if clusters is None else n_clusters > k
        if ok:
            stderr = res.bse
            ci = res.conf_int(0.05)
            cov = res.cov_params()
        else:
            stderr = np.full(k, np.nan)
            ci = np.full((k, 2), np.nan)
            cov = None
    tss = float(((y - y.mean()) ** 2).sum())
    rss = float(((y - X @ params) ** 2).sum())
    r2 = 1.0 - rss / tss if tss > 0 else math.nan
    return FitResult(tuple(names), params, stderr, n, r2, ci, interval, n_clusters, cov)


def fit_linear(
    x: np.ndarray, y: np.ndarray, clusters: np.ndarray | None = None, cluster_name: str = "trial"
) -> FitResult:
    """y = slope * x + intercept. For capacity vs parameters, slope is bits per parameter."""
    x = np.asarray(x, dtype=float)
    X = np.column_stack([x, np.ones_like(x)])
    return fit_ols(X, y, ("slope", "intercept"), clusters, cluster_name)


def predict_linear(x: np.ndarray, slope: float, intercept: float) -> np.ndarray:
    return slope * np.asarray(x, dtype=float) + intercept


def t975(dof: int) -> float:
    """The 97.5% quantile of Student's t (a 95% two-sided interval); nan without a dof."""
    return float(stats.t.ppf(0.975, dof)) if dof > 0 else math.nan


def ci_text(lo: float | None, hi: float | None, fmt: str = ".3f") -> str:
    """ "[lo, hi]", or "-" where the interval is missing (a bound, one seed, no fit)."""
    if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)):
        return "-"
    return f"[{lo:{fmt}}, {hi:{fmt}}]"


def mean_ci95(values: np.ndarray) -> tuple[float, float, float]:
    """Mean and 95% t interval of a sample (the interval is nan for a single value)."""
    v = np.asarray(values, dtype=float)
    m = float(v.mean())
    if v.size < 2:
        return m, math.nan, math.nan
    half = float(stats.t.ppf(0.975, v.size - 1) * v.std(ddof=1) / np.sqrt(v.size))
    return m, m - half, m + half
