"""The membership-inference sigmoid (analysis.generalization.fit) at exact values: the curve and
its rival, their Jacobians against finite differences, the censored residuals, the batch fitter's
weights and bounds, the crossings, and what is read from the bootstrap refits. Fast: the
mutation run uses them (docs/testing.md)."""

import math
import warnings

import numpy as np
import pytest

from analysis.common.fit import FitResult
from analysis.generalization.fit import (
    CEILING,
    LEVELS,
    LINE_BOUNDS,
    LO_BOUNDS,
    NAMES,
    SigmoidFit,
    _fit_batch,
    _line,
    _prepare,
    _residuals,
    _sigmoid,
    cross_validate,
    crossing,
    fit_sigmoid,
    predict_line,
    predict_sigmoid,
)


def test_the_curve_at_exact_values():
    assert NAMES == ("lo", "k", "x0") and LEVELS == (0.75, 0.95)
    # lo 0.5, k 2, x0 1: half-way (0.75) at log2 r = 1, e^-2 and e^2 a doubling either side
    y = predict_sigmoid(np.array([2.0, 4.0, 1.0]), 0.5, 2.0, 1.0)
    assert y == pytest.approx([0.75, 0.5 + 0.5 / (1 + math.exp(-2)), 0.5 + 0.5 / (1 + math.exp(2))])
    assert predict_sigmoid([8], 0.6, 1.0, 0.0) == pytest.approx([0.6 + 0.4 / (1 + math.exp(-3))])


def test_crossings_at_exact_values_and_where_there_are_none():
    assert crossing(0.75, 0.5, 2.0, 1.0) == pytest.approx(2.0)
    # 0.9 is 0.8 of the way up: log(0.8 / 0.2) / k doublings past x0
    assert crossing(0.9, 0.5, 2.0, 1.0) == pytest.approx(2 ** (1 + math.log(4) / 2))
    assert crossing(0.9, 0.5, -2.0, 1.0) == pytest.approx(2 ** (1 - math.log(4) / 2))
    assert crossing(0.6, 0.2, 1.0, 0.0) == pytest.approx(1.0)
    for level, lo, k in ((0.5, 0.5, 2.0), (0.4, 0.5, 2.0), (1.0, 0.5, 2.0), (0.75, 0.5, 0.0)):
        assert math.isnan(crossing(level, lo, k, 1.0)), (level, lo, k)
    assert crossing(0.9999, 0.5, 1e-3, 0.0) == math.inf  # beyond any ratio, not an error


def _noisy():
    rng = np.random.default_rng(5)
    r = np.repeat(2.0 ** np.linspace(-4, 4, 9), 2)
    return r, predict_sigmoid(r, 0.6, 1.5, 0.5) + rng.normal(0, 0.01, r.size)


def test_fit_on_exact_points_recovers_the_parameters():
    r = 2.0 ** np.array([-3.0, -1.0, 0.0, 1.0, 3.0])
    fit = fit_sigmoid(r, predict_sigmoid(r, 0.7, 1.2, -0.5))
    assert fit.result.params == pytest.approx([0.7, 1.2, -0.5], abs=1e-6)
    assert fit.result.r2 == pytest.approx(1.0)


def test_fit_needs_four_finite_points_at_positive_ratios():
    r = 2.0 ** np.array([-3.0, -1.0, 1.0, 3.0])
    y = predict_sigmoid(r, 0.6, 1.0, 0.0)
    assert fit_sigmoid(r[:3], y[:3]) is None
    junk_r = np.r_[r[:3], 0.0, -1.0, np.nan, 1.0, np.inf]
    junk_y = np.r_[y[:3], 0.9, 0.9, 0.9, np.nan, 0.9]
    assert fit_sigmoid(junk_r, junk_y) is None  # only 3 usable points
    fit = fit_sigmoid(np.r_[r, 0.0, np.nan], np.r_[y, 0.9, 0.9])
    assert fit.result.n_points == 4
    # exact points: every bootstrap refit is the fit itself, so the interval is the point
    s = fit.result
    assert s.ci95 == pytest.approx(np.c_[s.params, s.params], abs=1e-6)


def test_the_rival_is_a_line_in_log2_r_capped_at_1():
    assert predict_line(np.array([0.5, 2.0, 8.0, 64.0]), 0.5, 0.2) == pytest.approx(
        [0.3, 0.7, 1.0, 1.0]
    )
    assert predict_line([1], 0.25, -0.5) == pytest.approx([0.25])


def _numeric_jacobian(model, x, p, h=1e-6):
    cols = []
    for i in range(p.size):
        d = np.zeros_like(p)
        d[i] = h
        cols.append((model(x, (p + d)[None])[0][0] - model(x, (p - d)[None])[0][0]) / (2 * h))
    return np.stack(cols, axis=-1)


def test_the_jacobians_are_the_derivatives():
    x = np.array([-3.0, -0.5, 0.0, 1.0, 2.5])
    for p in (np.array([0.6, 1.5, 0.5]), np.array([0.3, 0.7, -1.0])):
        pred, jac = _sigmoid(x, p[None])
        assert pred[0] == pytest.approx(predict_sigmoid(2.0**x, *p))
        assert jac.shape == (1, 5, 3)
        assert jac[0] == pytest.approx(_numeric_jacobian(_sigmoid, x, p), abs=1e-8)
    # the line: its slope in a and b below the cap, none on it
    p = np.array([0.5, 0.2])
    pred, jac = _line(x, p[None])
    assert pred[0] == pytest.approx(predict_line(2.0**x, *p))
    assert jac[0].tolist() == [[1.0, -3.0], [1.0, -0.5], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]]
    at_cap = _line(np.array([2.5]), np.array([[0.0, 0.4]]))  # exactly 1: on the cap
    assert at_cap[0][0] == pytest.approx([1.0]) and at_cap[1][0].tolist() == [[0.0, 0.0]]
    # a large negative exponent overflows to a curve at lo, quietly
    with np.errstate(all="raise"):
        pred, _ = _sigmoid(np.array([-1000.0]), np.array([[0.4, 1.0, 0.0]]))
    assert pred[0] == pytest.approx([0.4])


def test_residuals_of_censored_points_are_a_hinge_below_the_ceiling():
    x = np.zeros(4)
    y = np.array([0.5, 0.9, 1.0, 1.0])
    cens = np.array([False, False, True, True])

    def model(x, p):  # predictions 0.6, 0.7, 0.99, 1.0; a Jacobian of ones
        pred = p[:, :1] + np.array([0.0, 0.1, 0.39, 0.4])
        return pred, np.ones((*pred.shape, 1))

    res, jac = _residuals(model, x, y, cens, np.array([[0.6]]))
    assert res[0] == pytest.approx([0.1, -0.2, 0.99 - CEILING, 0.0])
    assert jac[0, :, 0].tolist() == [1.0, 1.0, 1.0, 0.0]  # no gradient at the ceiling
    res, jac = _residuals(model, x, y, cens, np.array([[0.609]]))  # 0.999: at the ceiling
    assert res[0, 2:] == pytest.approx([0.0, 0.0]) and jac[0, 2:, 0].tolist() == [0.0, 0.0]


def test_the_batch_fitter_weighs_points_and_keeps_to_its_bounds():
    x = np.array([-2.0, -1.0, 0.0, 1.0, 2.0, 3.0])
    y = predict_line(2.0**x, 0.4, 0.1)
    y[0] = 0.9  # an outlier
    cens = np.zeros(6, bool)
    w = np.array([[0.0, 1, 1, 1, 1, 1], [1.0, 1, 1, 1, 1, 1]])
    p, cost = _fit_batch(_line, x, y, cens, w, np.array([0.0, 0.0]), LINE_BOUNDS)
    assert p.shape == (2, 2) and cost.shape == (2,)
    assert p[0] == pytest.approx([0.4, 0.1], abs=1e-8) and cost[0] == pytest.approx(0, abs=1e-14)
    # every point: the least-squares line, and its weighted squared error as the cost
    b, a = np.polyfit(x, y, 1)
    assert p[1] == pytest.approx([a, b], abs=1e-8)
    assert cost[1] == pytest.approx(((a + b * x - y) ** 2).sum(), rel=1e-8)
    # weights count points: a point weighted 2 is the point twice
    w2 = np.array([[2.0, 1, 1, 1, 1, 1]])
    twice = np.polyfit(np.r_[x[0], x], np.r_[y[0], y], 1)
    p2, _ = _fit_batch(_line, x, y, cens, w2, np.array([0.0, 0.0]), LINE_BOUNDS)
    assert p2[0] == pytest.approx(twice[::-1], abs=1e-8)
    # bounds hold: the sigmoid's lo stays within [0, 0.999] however the points pull it
    xs = np.linspace(-4, 4, 9)
    ys = predict_sigmoid(2.0**xs, 0.0, 1.0, 0.0) - 0.2
    ps, _ = _fit_batch(_sigmoid, xs, ys, np.zeros(9, bool), np.ones((1, 9)),
                       np.array([0.5, 1.0, 0.0]), LO_BOUNDS)  # fmt: skip
    assert ps[0, 0] == 0.0 and LO_BOUNDS[0, 1] <= ps[0, 1] <= LO_BOUNDS[1, 1]
    # a start outside the bounds is moved inside them before the first step
    ps, _ = _fit_batch(_sigmoid, xs, ys, np.zeros(9, bool), np.ones((2, 9)),
                       np.array([-1.0, 100.0, 0.0]), LO_BOUNDS, n_iter=0)  # fmt: skip
    assert ps.tolist() == [[0.0, 50.0, 0.0]] * 2


def test_points_are_prepared_in_log2_with_clusters_numbered_in_order():
    x, y, cens, idx = _prepare(
        [1.0, 4.0, 0.0, 2.0, np.nan, 0.5], [0.7, 0.9995, 0.8, 0.999, 0.9, 0.6],
        np.array(["b", "a", "c", "b", "c", "a"]),
    )  # fmt: skip
    assert x.tolist() == [0.0, 2.0, 1.0, -1.0]
    assert y.tolist() == [0.7, 0.9995, 0.999, 0.6]
    assert cens.tolist() == [False, True, True, False]  # at or above CEILING
    assert idx.tolist() == [1, 0, 1, 0]  # "c" has no usable point: two clusters left
    _, _, _, own = _prepare([1.0, 2.0, 4.0], [0.7, 0.8, 0.9], None)
    assert own.tolist() == [0, 1, 2]


def test_bootstrap_read_outs_are_the_quantiles_of_the_refits():
    p = np.array([0.6, 1.5, 0.5])
    boot = p + np.array([[0.0, 0.0, 0.0], [0.05, 0.5, -0.2], [-0.05, -0.5, 0.2],
                         [0.02, 0.1, 0.1], [-0.1, 0.3, -0.1]])  # fmt: skip
    res = FitResult(NAMES, p, np.zeros(3), 10, 0.99, np.zeros((3, 2)))
    fit = SigmoidFit(res, boot)
    assert fit.params() == (0.6, 1.5, 0.5) and all(type(v) is float for v in fit.params())
    r, lo, hi = fit.crossing_ci95(0.9)
    xs = np.array([crossing(0.9, *b) for b in boot])
    assert r == crossing(0.9, 0.6, 1.5, 0.5)
    # the draws at the bounds, not interpolated: 5 draws put both on the extremes
    assert [lo, hi] == pytest.approx([xs.min(), xs.max()])
    assert [lo, hi] == pytest.approx([np.quantile(xs, 0.025, method="lower"),
                                      np.quantile(xs, 0.975, method="higher")])  # fmt: skip
    # a refit that never crosses because its floor is above the level (lo 0.95 > 0.9) crosses
    # at r = 0: the low end, and no warning on the way
    never = SigmoidFit(res, np.r_[boot, [[0.95, 1.5, 0.5]]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r, lo, hi = never.crossing_ci95(0.9)
    assert lo == 0.0 and hi == pytest.approx(xs.max())
    # no crossing of the fit, or no refits: no interval
    assert all(math.isnan(v) for v in fit.crossing_ci95(0.5))
    r, lo, hi = SigmoidFit(res, np.empty((0, 3))).crossing_ci95(0.9)
    assert r == crossing(0.9, 0.6, 1.5, 0.5) and math.isnan(lo) and math.isnan(hi)
    # the band: pointwise quantiles of the refits' curves; without refits, the curve itself
    rr = np.array([0.5, 1.0, 4.0])
    ys = np.array([predict_sigmoid(rr, *b) for b in boot])
    low, high = fit.band(rr)
    assert low == pytest.approx(np.quantile(ys, 0.025, axis=0))
    assert high == pytest.approx(np.quantile(ys, 0.975, axis=0))
    low, high = SigmoidFit(res, np.empty((0, 3))).band(rr)
    assert low == pytest.approx(predict_sigmoid(rr, *p)) and high == pytest.approx(low)


def test_fit_sigmoid_intervals_and_r2_from_the_bootstrap():
    r = np.repeat(2.0 ** np.linspace(-4, 4, 9), 2)
    rng = np.random.default_rng(5)
    y = predict_sigmoid(r, 0.6, 1.5, 0.5) + rng.normal(0, 0.01, r.size)
    clusters = np.tile([0, 1], 9)
    fit = fit_sigmoid(r, y, clusters, n_boot=50, seed=3)
    s = fit.result
    assert fit.boot.shape == (50, 3) and s.n_points == 18 and s.n_clusters == 2
    assert s.stderr == pytest.approx(fit.boot.std(axis=0, ddof=1))
    assert s.ci95 == pytest.approx(np.quantile(fit.boot, [0.025, 0.975], axis=0).T)
    assert s.interval == "cluster bootstrap over (seed, model): 2 clusters, 50 resamples"
    res = predict_sigmoid(r, *s.params) - y
    assert s.r2 == pytest.approx(1 - (res**2).sum() / ((y - y.mean()) ** 2).sum())
    # the same seed, the same refits; another seed, others
    assert fit_sigmoid(r, y, clusters, n_boot=50, seed=3).boot == pytest.approx(fit.boot)
    assert not np.allclose(fit_sigmoid(r, y, clusters, n_boot=50, seed=4).boot, fit.boot)
    # one cluster, or no resamples: no interval
    for one in (fit_sigmoid(r, y, np.zeros(18), n_boot=50), fit_sigmoid(r, y, n_boot=0)):
        assert one.boot.shape == (0, 3) and np.isnan(one.result.stderr).all()
        assert np.isnan(one.result.ci95).all() and one.result.ci95.shape == (3, 2)
    # a constant y has no variance to explain: R2 is nan, not a division by zero
    flat = fit_sigmoid(r[:6], np.full(6, 0.75), n_boot=0)
    assert math.isnan(flat.result.r2)


def test_cross_validation_leaves_each_cluster_out():
    r = 2.0 ** np.tile(np.linspace(-4, 4, 5), 4)
    clusters = np.repeat([0, 1, 2, 3], 5)
    y = predict_sigmoid(r, 0.6, 1.5, 0.0)
    cv = cross_validate(r, y, clusters)
    assert cv["n_clusters"] == 4 and cv["sigmoid"] == pytest.approx(0.0, abs=1e-10)
    # four copies of one curve: the line fitted on any three is the line fitted on all four,
    # so the clusters left out add up to the squared error of that line on every point
    x = np.log2(r)
    _, cost = _fit_batch(_line, x, y, np.zeros(20, bool), np.ones((1, 20)), np.array([0.8, 0.05]),
                         LINE_BOUNDS)  # fmt: skip
    assert cost[0] > 1e-3 and cv["line"] == pytest.approx(cost[0], rel=1e-3)
    few = cross_validate(r[:10], y[:10], clusters[:10])
    assert few["n_clusters"] == 2 and math.isnan(few["sigmoid"]) and math.isnan(few["line"])
    assert cross_validate(r[:3], y[:3], np.arange(3))["n_clusters"] == 3
    assert math.isnan(cross_validate(r[:3], y[:3], np.arange(3))["sigmoid"])


def test_crossing_ci95_places_a_flat_refit_by_its_midpoint():
    # a flat refit (k = 0) sits at (1 + lo) / 2 at every ratio: 0.8 >= 0.75 crosses at r = 0
    # whatever its x0; exactly at the level (lo = 0.5) counts as reaching it
    p = np.array([0.5, 2.0, 0.0])
    res = FitResult(NAMES, p, np.zeros(3), 10, 0.99, np.zeros((3, 2)))
    r = crossing(0.75, *p)
    for flat in ([0.6, 0.0, 1.0], [0.5, 0.0, -1.0]):
        fit = SigmoidFit(res, np.array([p, flat]))
        assert fit.crossing_ci95(0.75) == (r, 0.0, r)
    # below the level (lo = 0.4: 0.7 < 0.75): never crosses, at r = inf
    assert SigmoidFit(res, np.array([p, [0.4, 0.0, 1.0]])).crossing_ci95(0.75) == (r, r, math.inf)


def test_cross_validate_needs_three_clusters_and_four_points():
    r = np.array([0.25, 0.5, 1.0, 2.0])
    y = np.array([0.55, 0.6, 0.8, 0.9])
    out = cross_validate(r, y, np.array([0, 1, 2, 2]))  # 3 clusters, 4 points: judged
    assert out["n_clusters"] == 3
    assert np.isfinite(out["sigmoid"]) and np.isfinite(out["line"])
    two = cross_validate(r, y, np.array([0, 1, 1, 1]))
    assert two["n_clusters"] == 2 and np.isnan(two["sigmoid"]) and np.isnan(two["line"])
    three = cross_validate(r[:3], y[:3], np.array([0, 1, 2]))
    assert three["n_clusters"] == 3 and np.isnan(three["sigmoid"]) and np.isnan(three["line"])


def test_cross_validate_of_no_usable_point_has_no_cluster():
    out = cross_validate(np.array([np.nan, 0.0]), np.array([0.5, 0.6]), np.array([0, 1]))
    assert out["n_clusters"] == 0 and np.isnan(out["sigmoid"]) and np.isnan(out["line"])


def test_fit_sigmoid_r2_takes_the_censored_points_by_the_hinge():
    r = np.repeat(2.0 ** np.linspace(-4, 4, 9), 2)
    rng = np.random.default_rng(7)
    y = predict_sigmoid(r, 0.6, 3.0, -1.0) + rng.normal(0, 0.01, r.size)
    y[[9, 17]] = 1.0  # at the ceiling: censored, some where the curve is below it
    fit = fit_sigmoid(r, y, np.tile([0, 1], 9), n_boot=0)
    pred = predict_sigmoid(r, *fit.result.params)
    cens = y >= CEILING
    assert (pred[cens] < CEILING).any() and (pred[cens] > CEILING).any()
    res = np.where(cens, np.minimum(0.0, pred - CEILING), pred - y)
    assert fit.result.r2 == pytest.approx(1 - (res**2).sum() / ((y - y.mean()) ** 2).sum())
    # no resamples: 3 nan standard errors; one resample is a bootstrap of one; seed 0 by default
    assert fit.boot.shape == (0, 3) and fit.result.stderr.shape == (3,)
    assert np.isnan(fit.result.stderr).all()
    assert fit_sigmoid(r, y, np.tile([0, 1], 9), n_boot=1).boot.shape == (1, 3)
    assert fit_sigmoid(r, y, np.tile([0, 1], 9), n_boot=5).boot == pytest.approx(
        fit_sigmoid(r, y, np.tile([0, 1], 9), n_boot=5, seed=0).boot
    )
