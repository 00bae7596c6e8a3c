"""Edges of the shared fitters (analysis.common.fit) that mutation testing found unpinned: the
interval of two values, the point count a fit needs, cluster labels as strings, the t quantile
and the interval text."""

import math

import numpy as np
import pytest

from analysis.common.fit import ci_text, fit_linear, fit_ols, mean_ci95, t975

T1 = 12.706204736174698  # t_{0.975} with 1 df


def test_mean_ci95_of_two_values_uses_t_with_one_df():
    m, lo, hi = mean_ci95([1.0, 3.0])  # sd sqrt(2), over sqrt(2): the half-width is t itself
    assert m == 2.0 and lo == pytest.approx(2 - T1) and hi == pytest.approx(2 + T1)
    assert all(isinstance(v, float) for v in mean_ci95(np.array([1, 2, 4])))


def test_a_fit_needs_as_many_points_as_parameters():
    with pytest.raises(ValueError, match="need at least 2 points to fit 2 parameters, got 1"):
        fit_ols(np.ones((1, 2)), np.ones(1), ("a", "b"))
    one = fit_ols(np.array([[2.0]]), np.array([3.0]), ("a",))
    assert one.params == pytest.approx([1.5]) and one.n_points == 1
    assert math.isnan(one.stderr[0]) and one.interval == "OLS" and one.n_clusters is None


def test_clusters_are_labels_read_as_strings():
    x, y = np.arange(8.0), np.array([1.0, 3, 2, 5, 4, 6, 5, 8])
    ints = fit_linear(x, y, clusters=np.array([0, 0, 1, 1, 2, 2, 3, 3]))
    mixed = fit_linear(x, y, clusters=np.array(["0", 0, "1", 1, 2, "2", "3", 3], dtype=object))
    assert mixed.n_clusters == 4 and mixed.stderr == pytest.approx(ints.stderr)
    assert ints.interval == "cluster-robust by trial (4 clusters, t with G-1 df)"
    # three clusters for two parameters: robust errors, t with 2 df
    three = fit_linear(x, y, clusters=np.array([0, 0, 0, 1, 1, 1, 2, 2]))
    assert three.n_clusters == 3 and np.isfinite(three.stderr).all()
    assert three.ci95[0, 1] - three.params[0] == pytest.approx(4.302652729749464 * three.stderr[0])
    assert three.cov[0, 0] == pytest.approx(three.stderr[0] ** 2)


def test_fit_ols_edges_at_exact_values():
    x = np.array([0.0, 1, 2])
    # clusters without a name are trials
    ols = fit_ols(np.column_stack([x, np.ones(3)]), x, ("a", "b"), clusters=np.array([0, 1, 2]))
    assert ols.interval == "cluster-robust by trial (3 clusters, t with G-1 df)"
    # a y whose total variance is under 1 still has an R2
    assert fit_linear(x, 0.1 * x).r2 == pytest.approx(1.0)
    # one residual degree of freedom: errors and intervals, t with 1 df
    one = fit_linear(x, np.array([0.0, 2.0, 1.0]))
    assert np.isfinite(one.stderr).all() and one.cov is not None
    assert one.ci95[0, 1] - one.params[0] == pytest.approx(T1 * one.stderr[0])
    # as many points as parameters: nan intervals, still one (low, high) pair per parameter
    exact = fit_linear(np.array([1.0, 2.0]), np.array([3.0, 5.0]))
    assert exact.ci95.shape == (2, 2)


def test_t975_is_students_97_5_percent_quantile_and_nan_without_a_dof():
    assert t975(1) == pytest.approx(T1, rel=1e-12)
    assert t975(2) == pytest.approx(4.302652729749464, rel=1e-12)
    assert t975(30) == pytest.approx(2.0422724563012373, rel=1e-12)
    assert type(t975(2)) is float
    assert math.isnan(t975(0)) and math.isnan(t975(-1))


def test_ci_text_formats_an_interval_and_marks_a_missing_one():
    assert ci_text(1.23456, 2.5) == "[1.235, 2.500]"
    assert ci_text(-0.5, 0.25, ".1f") == "[-0.5, 0.2]"
    for lo, hi in ((None, 1.0), (1.0, None), (math.nan, 1.0), (1.0, math.nan), (1.0, math.inf),
                   (-math.inf, 1.0)):  # fmt: skip
        assert ci_text(lo, hi) == "-", (lo, hi)
