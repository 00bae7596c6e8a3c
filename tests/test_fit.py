"""Fitters recover known parameters from noisy synthetic data."""

import numpy as np
import pytest

from analysis.common.fit import fit_linear, fit_ols, mean_ci95, predict_linear


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
    # mean 2, sample sd 1 (ddof 1), half-width t_{0.975, 2} sd / sqrt(3) = 4.3027 / 1.7321
    assert mean_ci95(np.array([1.0, 2.0, 3.0])) == pytest.approx((2, -0.4841, 4.4841), abs=1e-4)
    # n = 5: t with 4 df (2.7764), sd sqrt(2.5), sqrt(5): half-width 1.9632
    assert mean_ci95([2.0, 4.0, 6.0, 3.0, 5.0]) == pytest.approx((4, 2.0368, 5.9632), abs=1e-4)
    m, lo, hi = mean_ci95(np.array([1.0]))
    assert m == 1.0 and np.isnan(lo) and np.isnan(hi)


def test_ols_by_hand():
    # y = 1.4 + 0.8 x exactly at the least squares: residuals -0.4, 0.8, -1, 1.2, -0.6, RSS 3.6,
    # s^2 = 3.6 / 3, Sxx = 10: se(slope) = sqrt(0.12), se(intercept) = sqrt(1.2 (1/5 + 4/10)),
    # intervals +- t_{0.975, 3} = 3.1824 se, R2 = 1 - 3.6 / 10
    fit = fit_linear(np.array([0.0, 1, 2, 3, 4]), np.array([1.0, 3, 2, 5, 4]))
    assert fit.params == pytest.approx([0.8, 1.4])
    assert fit.stderr == pytest.approx([0.34641016, 0.84852814])
    assert fit.ci95[0] == pytest.approx([-0.30243174, 1.90243174])
    assert fit.ci95[1] == pytest.approx([-1.30039524, 4.10039524])
    assert fit.r2 == pytest.approx(0.64) and fit.n_points == 5 and fit.interval == "OLS"
    assert fit.cov == pytest.approx(np.array([[0.12, -0.24], [-0.24, 0.72]]))
    assert fit.as_dict() == pytest.approx({
        "n_points": 5, "r2": 0.64, "interval": "OLS", "slope": 0.8, "slope_stderr": 0.34641016,
        "slope_ci95_low": -0.30243174, "slope_ci95_high": 1.90243174, "intercept": 1.4,
        "intercept_stderr": 0.84852814, "intercept_ci95_low": -1.30039524,
        "intercept_ci95_high": 4.10039524,
    })  # fmt: skip
    assert predict_linear(np.array([0.0, 10.0]), 0.8, 1.4) == pytest.approx([1.4, 9.4])
    # n == k: an exact line, no interval
    exact = fit_linear(np.array([1.0, 2.0]), np.array([3.0, 5.0]))
    assert exact.params == pytest.approx([2.0, 1.0])
    assert np.isnan(exact.stderr).all() and np.isnan(exact.ci95).all() and exact.cov is None
    # a flat y has no variance to explain: R2 is nan, not 1
    assert np.isnan(fit_linear(np.array([0.0, 1, 2]), np.array([1.0, 1, 1])).r2)


def test_cluster_robust_interval_uses_t_with_clusters_minus_one_df():
    x, y = np.arange(8.0), np.array([1.0, 3, 2, 5, 4, 6, 5, 8])
    fit = fit_linear(x, y, clusters=np.array([0, 0, 1, 1, 2, 2, 3, 3]), cluster_name="seed")
    assert fit.interval == "cluster-robust by seed (4 clusters, t with G-1 df)"
    assert fit.n_clusters == 4 and fit.n_points == 8
    assert fit.params == pytest.approx([0.83333333, 1.33333333])
    # statsmodels' small-sample corrected cluster errors, the interval t_{0.975, 3} = 3.1824 se
    assert fit.stderr == pytest.approx([0.04228669, 0.20201319], rel=1e-6)
    assert fit.ci95[0] == pytest.approx([0.69875823, 0.96790844], rel=1e-6)
    assert fit.as_dict()["n_clusters"] == 4
    # no more clusters than parameters: no robust errors at all, nan rather than tiny
    few = fit_linear(x, y, clusters=np.array([0, 0, 0, 0, 1, 1, 1, 1]))
    assert few.n_clusters == 2 and few.params == pytest.approx(fit.params)
    assert np.isnan(few.stderr).all() and np.isnan(few.ci95).all() and few.cov is None
    assert "n_clusters" not in fit_linear(x, y).as_dict()


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
