"""Fitters recover known parameters from noisy synthetic data."""

import numpy as np
import pytest

from analysis.common.fit import fit_linear, fit_ols, mean_ci95


def test_linear_fit_recovers_bits_per_parameter():
    rng = np.random.default_rng(0)
    x = np.repeat([1e3, 3e3, 1e4, 3e4], 3)
    y = 3.6 * x + 500 + rng.normal(0, 200, x.size)
    fit = fit_linear(x, y)
    slope, intercept = fit.params
    assert slope == pytest.approx(3.6, abs=0.05)
    lo, hi = fit.ci95[0]
    assert lo < 3.6 < hi
    assert fit.r2 > 0.999
    assert fit.n_points == 12


def test_ols_with_two_regressors_recovers_known_coefficients():
    rng = np.random.default_rng(1)
    a, b = rng.uniform(0, 5, 200), rng.uniform(10, 20, 200)
    y = 0.7 * a - 0.3 * b + 2.0 + rng.normal(0, 0.05, 200)
    fit = fit_ols(np.column_stack([a, b, np.ones(200)]), y, ("c1", "c2", "c3"))
    np.testing.assert_allclose(fit.params, [0.7, -0.3, 2.0], atol=0.05)
    assert all(lo < t < hi for (lo, hi), t in zip(fit.ci95, [0.7, -0.3, 2.0], strict=True))


def test_interval_coverage_is_about_95_percent():
    rng = np.random.default_rng(2)
    hits = 0
    for _ in range(400):
        x = np.linspace(0, 1, 8)
        y = 2 * x + 1 + rng.normal(0, 0.3, 8)
        lo, hi = fit_linear(x, y).ci95[0]
        hits += lo < 2 < hi
    assert 0.91 < hits / 400 < 0.99


def test_exact_fit_has_zero_error_and_too_few_points_fail():
    fit = fit_linear(np.array([1.0, 2.0, 3.0]), np.array([2.0, 4.0, 6.0]))
    assert fit.params[0] == pytest.approx(2.0) and fit.r2 == pytest.approx(1.0)
    with pytest.raises(ValueError):
        fit_linear(np.array([1.0]), np.array([1.0]))


def test_mean_ci95():
    m, lo, hi = mean_ci95(np.array([1.0, 2.0, 3.0]))
    assert m == 2.0 and lo < 2.0 < hi
    assert np.isnan(mean_ci95(np.array([1.0]))[1])


def test_cluster_robust_intervals_cover_where_ols_over_counts_correlated_rows():
    # 6 trials x 9 evaluations: the regressor is constant within a trial (like the seed-set
    # size) and each trial has its own offset, so the 54 rows carry ~6 observations' evidence
    rng = np.random.default_rng(3)
    trial = np.repeat(np.arange(6), 9)
    x = np.log([1e3, 2e3, 4e3, 8e3, 16e3, 32e3])[trial]
    ols_hits = cluster_hits = 0
    for _ in range(300):
        y = -0.5 * x + rng.normal(0, 0.3, 6)[trial] + rng.normal(0, 0.05, trial.size)
        ols_hits += fit_linear(x, y).ci95[0, 0] < -0.5 < fit_linear(x, y).ci95[0, 1]
        fit = fit_linear(x, y, clusters=trial)
        cluster_hits += fit.ci95[0, 0] < -0.5 < fit.ci95[0, 1]
    assert fit.n_clusters == 6 and fit.interval.startswith("cluster-robust by trial")
    assert ols_hits / 300 < 0.6  # the independent-rows interval is far too narrow
    assert cluster_hits / 300 > 0.85
