"""The membership-inference sigmoid (analysis.generalization.fit) at exact values: the curve, its
crossings, the fit's intervals and R2 by hand, the parameter draws and what is read from them.
Fast: the mutation run uses them (docs/testing.md)."""

import math
import warnings

import numpy as np
import pytest
from scipy import stats

from analysis.common.fit import FitResult
from analysis.generalization.fit import (
    LEVELS,
    NAMES,
    SigmoidFit,
    crossing,
    fit_sigmoid,
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


def test_fit_intervals_and_r2_by_hand():
    r, y = _noisy()
    fit = fit_sigmoid(r, y)
    res = fit.result
    assert res.names == NAMES and res.n_points == 18
    assert res.interval == "t from curve_fit (trials)"
    assert res.params == pytest.approx([0.6, 1.5, 0.5], abs=0.15)
    # stderr from the covariance's diagonal, t with n - 3 = 15 df
    assert res.stderr == pytest.approx(np.sqrt(np.diag(fit.cov)))
    t = stats.t.ppf(0.975, 15)
    assert res.ci95[:, 0] == pytest.approx(res.params - t * res.stderr)
    assert res.ci95[:, 1] == pytest.approx(res.params + t * res.stderr)
    rss = ((y - predict_sigmoid(r, *res.params)) ** 2).sum()
    assert res.r2 == pytest.approx(1 - rss / ((y - y.mean()) ** 2).sum())
    assert fit.params() == tuple(float(p) for p in res.params)
    # what curve_fit gives on the same points, bounded and started as documented
    p, cov = __import__("scipy.optimize").optimize.curve_fit(
        predict_sigmoid, r, y, p0=(float(y.min()), 2.0, float(np.median(np.log2(r)))),
        bounds=([0.0, 0.0, -30.0], [0.999, 50.0, 30.0]), maxfev=20_000,
    )  # fmt: skip
    assert res.params == pytest.approx(p, rel=1e-6) and fit.cov == pytest.approx(cov, rel=1e-6)


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
    # one degree of freedom: t_{0.975, 1} = 12.706
    s = fit.result
    assert s.ci95[:, 1] - s.params == pytest.approx(12.706204736 * s.stderr)


def _made(params=(0.6, 1.5, 0.5), cov=None):
    cov = np.diag([1e-4, 0.04, 0.01]) if cov is None else cov
    p = np.array(params)
    res = FitResult(NAMES, p, np.sqrt(np.diag(cov)), 10, 0.99, np.zeros((3, 2)))
    return SigmoidFit(res, cov)


def test_draws_are_seeded_normal_draws_around_the_parameters():
    fit = _made()
    d = fit.draws(n=5, seed=3)
    want = np.random.default_rng(3).multivariate_normal(fit.result.params, fit.cov, size=5)
    assert d == pytest.approx(want)
    assert fit.draws().shape == (4000, 3)
    zero = np.random.default_rng(0).multivariate_normal(fit.result.params, fit.cov, size=4000)
    assert fit.draws() == pytest.approx(zero)
    # a nan covariance is drawn as 0: every draw at the parameters
    nan = _made(cov=np.full((3, 3), np.nan))
    assert nan.draws(n=3) == pytest.approx(np.tile(nan.result.params, (3, 1)))


def test_crossing_interval_from_the_draws():
    fit = _made()
    r, lo, hi = fit.crossing_ci95(0.9)
    assert r == pytest.approx(crossing(0.9, 0.6, 1.5, 0.5))
    xs = np.array([crossing(0.9, *p) for p in fit.draws()])
    xs = np.where(np.isnan(xs), np.inf, xs)
    assert [lo, hi] == pytest.approx(list(np.quantile(xs, [0.025, 0.975])))
    assert lo < r < hi
    # a level the fit never reaches: no crossing, no interval; nor with an unknown covariance
    assert all(math.isnan(v) for v in fit.crossing_ci95(0.5))
    r, lo, hi = _made(cov=np.full((3, 3), np.nan)).crossing_ci95(0.9)
    assert r == pytest.approx(crossing(0.9, 0.6, 1.5, 0.5)) and math.isnan(lo) and math.isnan(hi)
    # draws whose lower level is above 0.9 never cross: counted beyond the end, so the
    # interval has no finite top (numpy's quantile between two inf draws is nan, not inf)
    wide = _made(params=(0.89, 1.5, 0.5), cov=np.diag([0.0025, 0.04, 0.01]))
    r, lo, hi = wide.crossing_ci95(0.9)
    assert 0 < lo < r and not math.isfinite(hi)


def test_band_is_the_pointwise_quantiles_of_the_drawn_curves():
    fit = _made()
    r = np.array([0.5, 1.0, 4.0])
    low, high = fit.band(r, seed=2)
    ys = np.array([predict_sigmoid(r, *p) for p in fit.draws(seed=2)])
    assert low == pytest.approx(np.quantile(ys, 0.025, axis=0))
    assert high == pytest.approx(np.quantile(ys, 0.975, axis=0))
    assert fit.band(r)[0] == pytest.approx(
        np.quantile([predict_sigmoid(r, *p) for p in fit.draws(seed=0)], 0.025, axis=0)
    )


def test_no_numpy_warnings_where_the_code_expects_them():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert crossing(0.9999, 0.5, 1e-3, 0.0) == math.inf  # overflow to inf, said
        wide = _made(params=(0.89, 1.5, 0.5), cov=np.diag([0.0025, 0.04, 0.01]))
        assert not math.isfinite(wide.crossing_ci95(0.9)[2])  # inf - inf in the quantile
        # a covariance that is not positive semi-definite is drawn from all the same
        bad = _made(cov=np.array([[1.0, 2.0, 0.0], [2.0, 1.0, 0.0], [0.0, 0.0, 1.0]]))
        assert bad.draws(n=3).shape == (3, 3)


def test_a_shallow_sigmoid_and_four_points():
    r = 2.0 ** np.array([-8.0, -4.0, -2.0, 0.0, 2.0, 4.0, 8.0])
    fit = fit_sigmoid(r, predict_sigmoid(r, 0.55, 0.5, 0.0))  # k under 1
    assert fit.result.params == pytest.approx([0.55, 0.5, 0.0], abs=1e-5)
    four = fit_sigmoid(r[1:5], predict_sigmoid(r[1:5], 0.55, 0.5, 0.0) + [0, 0.01, -0.01, 0])
    assert four.result.n_points == 4 and np.isfinite(four.cov).all()
