"""The membership-inference sigmoid (analysis.generalization.fit) at exact values: the curve, its
crossings, the fit's intervals and R2 by hand, the parameter draws and what is read from them.
Fast: the mutation run uses them (docs/testing.md)."""

import math

import numpy as np
import pytest

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
