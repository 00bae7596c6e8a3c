"""Edges of the shared fitters (analysis.common.fit) that mutation testing found unpinned: the
interval of two values, the point count a fit needs, cluster labels as strings."""

import math

import numpy as np
import pytest

from analysis.common.fit import fit_linear, fit_ols, mean_ci95

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
