"""The membership-inference sigmoid and its rival: pure fitters, prediction from parameters.

Morris et al. (2025) fit F1 = 1/2 (1 + c1 sigmoid(c2 (capacity/|D| + c3))) and print constants
that give the reverse of their own table (issue 22), so memtune fits its own points and reports
the shape and where F1 crosses given levels, not constants to compare. The form here:

    y = lo + (1 - lo) * sigmoid(k * (log2 r - x0)),   r = capacity / dataset information

p[0] = lo: the attack's level when the data dwarfs the capacity (chance: 1/2 for AUROC and
F1 at the median threshold, >= 2/3 for the best F1 over thresholds); p[1] = k: steepness per
doubling of r; p[2] = x0: log2 r half-way between lo and 1. The upper level is fixed at 1, a
perfect attack. log2 r because the points span orders of magnitude of r.

Three things keep the fit honest (issue 31):

- **Ceiling points are censored.** A figure at or above CEILING says only "the attack is
  perfect here", not a value with a residual: such a point adds to the squared error only when
  the curve falls below CEILING there (a hinge; the least-squares form of a Tobit censored at
  the ceiling). Points at 1.000 with no residual would otherwise shrink the residual variance.
- **Intervals come from a cluster bootstrap.** Points of one (seed, model) share nested data
  and one initialization, so they are resampled together: each resample draws the clusters
  with replacement (as weights on the points) and refits; intervals are the 2.5% and 97.5%
  quantiles. Every fit of a batch runs at once (``_fit_batch``, a Levenberg-Marquardt in
  numpy), so a thousand refits cost a second.
- **A rival.** The rival is a line in log2 r capped at 1, y = min(1, a + b log2 r): monotone,
  reaching the ceiling, with no lower plateau and no curvature. Both are scored by
  leave-one-cluster-out squared error (``cross_validate``): fitted on every cluster but one,
  judged on the one left out; the sigmoid "wins" only with the smaller error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from analysis.common.fit import FitResult

NAMES = ("lo", "k", "x0")
LINE_NAMES = ("a", "b")
LEVELS = (0.75, 0.95)  # F1 levels whose crossings are reported (issue 22)
CEILING = 0.999  # a figure at or above this is censored: "the attack is perfect here"
N_BOOT = 1000  # cluster-bootstrap resamples
LO_BOUNDS = np.array([[0.0, 0.0, -30.0], [0.999, 50.0, 30.0]])  # (lo, k, x0) lower, upper
LINE_BOUNDS = np.array([[-50.0, -50.0], [50.0, 50.0]])
RIVAL = "a line in log2 r capped at 1"  # how verdicts name the rival
CRITERION = "leave-one-(seed, model)-out squared error"  # how verdicts name the criterion

Model = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def predict_sigmoid(r: np.ndarray, lo: float, k: float, x0: float) -> np.ndarray:
    """y at capacity ratios ``r`` (> 0) for the parameters (see the module docstring)."""
    z = k * (np.log2(np.asarray(r, dtype=float)) - x0)
    return lo + (1.0 - lo) / (1.0 + np.exp(-z))


def predict_line(r: np.ndarray, a: float, b: float) -> np.ndarray:
    """The rival at capacity ratios ``r``: min(1, a + b log2 r)."""
    return np.minimum(1.0, a + b * np.log2(np.asarray(r, dtype=float)))


def _sigmoid(x: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(B, n) predictions and (B, n, 3) Jacobian of the sigmoid at x = log2 r, params (B, 3)."""
    lo, k, x0 = (p[:, i : i + 1] for i in range(3))
    with np.errstate(over="ignore"):
        s = 1.0 / (1.0 + np.exp(-k * (x - x0)))
    ds = (1.0 - lo) * s * (1.0 - s)
    jac = np.stack([1.0 - s, ds * (x - x0), -ds * k], axis=-1)
    return lo + (1.0 - lo) * s, jac


def _line(x: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(B, n) predictions and (B, n, 2) Jacobian of the capped line, params (B, 2)."""
    u = p[:, :1] + p[:, 1:2] * x
    free = (u < 1.0).astype(float)
    jac = np.stack([free, free * x], axis=-1)
    return np.minimum(1.0, u), jac


def _residuals(
    model: Model, x: np.ndarray, y: np.ndarray, censored: np.ndarray, p: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(B, n) residuals and their Jacobian: prediction - y, or at a censored point the hinge
    min(0, prediction - CEILING) (zero, and no gradient, while the curve is at the ceiling)."""
    pred, jac = model(x, p)
    res = np.where(censored, np.minimum(0.0, pred - CEILING), pred - y)
    active = ~censored | (pred < CEILING)
    return res, jac * active[..., None]


def _fit_batch(
    model: Model,
    x: np.ndarray,
    y: np.ndarray,
    censored: np.ndarray,
    weights: np.ndarray,
    p0: np.ndarray,
    bounds: np.ndarray,
    n_iter: int = 200,
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted least squares for B weightings of the same points at once (Levenberg-Marquardt,
    the damping per fit, steps clipped to ``bounds``).

    Args:
        model: ``_sigmoid`` or ``_line``.
        x, y, censored: (n,) log2 r, the figure, and whether it is at the ceiling.
        weights: (B, n) non-negative weights (cluster-bootstrap counts, 0 = left out).
        p0: (B, p) or (p,) starting parameters.
        bounds: (2, p) lower and upper bounds.
    Returns:
        ((B, p) parameters, (B,) weighted sums of squared residuals).
    """
    W = np.asarray(weights, dtype=float)
    p = np.clip(np.broadcast_to(np.asarray(p0, float), (W.shape[0], bounds.shape[1])).copy(),
                bounds[0], bounds[1])  # fmt: skip
    lam = np.full(W.shape[0], 1e-2)
    res, jac = _residuals(model, x, y, censored, p)
    cost = (W * res**2).sum(axis=1)
    eye = np.eye(p.shape[1])
    done = np.zeros(W.shape[0], bool)
    for _ in range(n_iter):
        jw = jac * W[..., None]
        A = np.einsum("bni,bnj->bij", jw, jac)
        g = np.einsum("bni,bn->bi", jw, res)
        damped = A + lam[:, None, None] * (A * eye + 1e-9 * eye)
        step = -np.linalg.solve(damped, g[..., None])[..., 0]
        trial = np.clip(p + step, bounds[0], bounds[1])
        t_res, t_jac = _residuals(model, x, y, censored, trial)
        t_cost = (W * t_res**2).sum(axis=1)
        better = t_cost < cost
        p = np.where(better[:, None], trial, p)
        res = np.where(better[:, None], t_res, res)
        jac = np.where(better[:, None, None], t_jac, jac)
        # done: an accepted step that gained (almost) nothing, or a damping no step survives
        done |= (better & (cost - t_cost <= 1e-10 * np.maximum(cost, 1e-12))) | (lam > 1e10)
        cost = np.where(better, t_cost, cost)
        lam = np.where(better, lam / 3.0, lam * 4.0)
        if done.all():
            break
    return p, cost


def _starts(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Starting points of both models: a grid for the sigmoid, least squares for the line."""
    lo0 = float(min(max(y.min(), 0.0), 0.9))
    grid = np.array([[lo0, k, x0] for k in (0.5, 2.0, 8.0)
                     for x0 in np.quantile(x, [0.2, 0.5, 0.8])])  # fmt: skip
    free = y < CEILING
    xs, ys = (x[free], y[free]) if free.sum() >= 2 and np.ptp(x[free]) > 0 else (x, y)
    b, a = np.polyfit(xs, ys, 1) if np.ptp(xs) > 0 else (0.0, float(ys.mean()))
    return grid, np.array([a, b])


def _best(model: Model, x, y, censored, starts: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """The best of several starting points, every point weighted 1."""
    p, cost = _fit_batch(model, x, y, censored, np.ones((len(starts), x.size)), starts, bounds)
    return p[int(np.argmin(cost))]


def crossing(level: float, lo: float, k: float, x0: float) -> float:
    """The ratio r at which the sigmoid equals ``level``; nan when it never does."""
    if not lo < level < 1.0 or k == 0:
        return np.nan
    q = (level - lo) / (1.0 - lo)
    with np.errstate(over="ignore"):  # a draw with k near 0 crosses beyond any ratio: inf
        return float(np.exp2(x0 + np.log(q / (1.0 - q)) / k))


@dataclass(frozen=True)
class SigmoidFit:
    """A fitted sigmoid: the parameters with cluster-bootstrap intervals, and the draws."""

    result: FitResult
    boot: np.ndarray  # (B, 3) the refits of the cluster bootstrap: intervals of derived figures

    def params(self) -> tuple[float, float, float]:
        lo, k, x0 = (float(v) for v in self.result.params)
        return lo, k, x0

    def crossing_ci95(self, level: float) -> tuple[float, float, float]:
        """(r, low, high): where the fit crosses ``level`` and the 95% interval of the bootstrap
        refits' crossings. A refit that never crosses is above the level at every ratio (its
        floor is already there: it crosses at r = 0) or below it at every ratio (k = 0 and a
        flat curve under it: at r = inf); either widens the interval on its own side."""
        r = crossing(level, *self.params())
        if np.isnan(r) or not len(self.boot):
            return r, np.nan, np.nan
        xs = np.array([crossing(level, *p) for p in self.boot])
        lo, k = self.boot[:, 0], self.boot[:, 1]
        start = np.where(k > 0, lo, (1.0 + lo) / 2)  # the curve's value as r -> 0
        xs = np.where(np.isnan(xs), np.where(start >= level, 0.0, np.inf), xs)
        # the draws at or beyond the bounds, not interpolated between them (inf - inf is nan)
        low = np.quantile(xs, 0.025, method="lower")
        high = np.quantile(xs, 0.975, method="higher")
        return r, float(low), float(high)

    def band(self, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pointwise 95% band of the curve at ``r`` from the bootstrap refits."""
        if not len(self.boot):
            y = predict_sigmoid(r, *self.params())
            return y, y
        ys = np.array([predict_sigmoid(r, *p) for p in self.boot])
        return np.quantile(ys, 0.025, axis=0), np.quantile(ys, 0.975, axis=0)


def _prepare(r: np.ndarray, y: np.ndarray, clusters: np.ndarray | None):
    r, y = np.asarray(r, dtype=float), np.asarray(y, dtype=float)
    labels = np.arange(r.size) if clusters is None else np.asarray(clusters)
    ok = np.isfinite(r) & np.isfinite(y) & (r > 0)
    _, idx = np.unique(labels[ok], return_inverse=True)
    return np.log2(r[ok]), y[ok], y[ok] >= CEILING, idx.reshape(-1)


def fit_sigmoid(
    r: np.ndarray,
    y: np.ndarray,
    clusters: np.ndarray | None = None,
    n_boot: int = N_BOOT,
    seed: int = 0,
) -> SigmoidFit | None:
    """Censored least-squares fit of ``predict_sigmoid`` to (r, y) points, with intervals from a
    bootstrap over clusters; None with fewer than 4 points.

    Args:
        r: (n,) capacity / dataset information of each trial.
        y: (n,) the attack's figure (F1, AUROC) of each trial.
        clusters: (n,) the cluster of each point (its (seed, model)); None = each point its own.
        n_boot: bootstrap resamples (0: no intervals).
        seed: the resampling stream.
    Returns:
        the fit: ``result`` with the bootstrap's standard deviations as stderr and its 2.5% and
        97.5% quantiles as the interval (nan with fewer than 2 clusters), the refits as
        ``boot``.
    """
    x, y, cens, idx = _prepare(r, y, clusters)
    if x.size < 4:
        return None
    starts, _ = _starts(x, y)
    params = _best(_sigmoid, x, y, cens, starts, LO_BOUNDS)
    G = int(idx.max()) + 1
    boot = np.empty((0, 3))
    if G >= 2 and n_boot > 0:
        counts = np.random.default_rng(seed).multinomial(G, np.full(G, 1.0 / G), size=n_boot)
        boot, _ = _fit_batch(_sigmoid, x, y, cens, counts[:, idx], params, LO_BOUNDS)
    if len(boot):
        stderr, ci = boot.std(axis=0, ddof=1), np.quantile(boot, [0.025, 0.975], axis=0).T
    else:
        stderr, ci = np.full(3, np.nan), np.full((3, 2), np.nan)
    pred = _sigmoid(x, params[None])[0][0]
    res = np.where(cens, np.minimum(0.0, pred - CEILING), pred - y)
    tss = float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - float((res**2).sum()) / tss if tss > 0 else np.nan
    how = f"cluster bootstrap over (seed, model): {G} clusters, {len(boot)} resamples"
    result = FitResult(NAMES, params, stderr, int(x.size), r2, ci, how, n_clusters=G)
    return SigmoidFit(result, boot)


def cross_validate(r: np.ndarray, y: np.ndarray, clusters: np.ndarray) -> dict[str, float]:
    """Leave-one-cluster-out squared error of the sigmoid and of its rival, the capped line.

    Each cluster in turn is left out, both models are refitted on the rest (from their fit to
    every point) and judged on the points left out, censored ones by the hinge. Prefers the
    rival whenever it predicts unseen clusters better, which a line does when the points are a
    line in log2 r.

    Returns:
        {"sigmoid": error, "line": error, "n_clusters": G}; nan errors with fewer than 3
        clusters (a fit on one cluster predicting the other says nothing about the shape).
    """
    x, y, cens, idx = _prepare(r, y, clusters)
    G = int(idx.max()) + 1 if idx.size else 0
    if G < 3 or x.size < 4:
        return {"sigmoid": np.nan, "line": np.nan, "n_clusters": G}
    keep = (idx[None, :] != np.arange(G)[:, None]).astype(float)  # (G, n): 0 = left out
    out: dict[str, float] = {"n_clusters": G}
    s_starts, l_start = _starts(x, y)
    for name, model, p0, bounds in (
        ("sigmoid", _sigmoid, _best(_sigmoid, x, y, cens, s_starts, LO_BOUNDS), LO_BOUNDS),
        ("line", _line, _best(_line, x, y, cens, l_start[None], LINE_BOUNDS), LINE_BOUNDS),
    ):
        p, _ = _fit_batch(model, x, y, cens, keep, p0, bounds)
        res, _ = _residuals(model, x, y, cens, p)  # (G, n): each refit on every point
        out[name] = float(((1.0 - keep) * res**2).sum())
    return out
