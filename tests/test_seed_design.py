"""Where the seed spread comes from: the data x init variance split, against statsmodels."""

import numpy as np
import pandas as pd
import pytest

from analysis.capacity.report import analyze, format_report
from analysis.capacity.seeds import variance_split


def test_the_split_matches_a_two_way_anova():
    import statsmodels.api as sm
    from statsmodels.formula.api import ols

    y = np.array([[2.01, 2.10, 1.95], [2.20, 2.31, 2.12], [1.90, 2.02, 1.83]])
    s = variance_split(y)
    long = pd.DataFrame(
        [(d, i, y[d, i]) for d in range(3) for i in range(3)], columns=["d", "i", "y"]
    )
    table = sm.stats.anova_lm(ols("y ~ C(d) + C(i)", long).fit())
    assert s["ms_data"] == pytest.approx(table.loc["C(d)", "mean_sq"])
    assert s["ms_init"] == pytest.approx(table.loc["C(i)", "mean_sq"])
    assert s["ms_resid"] == pytest.approx(table.loc["Residual", "mean_sq"])
    assert s["p_data"] == pytest.approx(table.loc["C(d)", "PR(>F)"])
    assert s["var_data"] == pytest.approx((s["ms_data"] - s["ms_resid"]) / 3)
    assert s["share_data"] + s["share_init"] + s["share_resid"] == pytest.approx(1.0)
    assert s["share_data"] > 0.6  # the rows differ most: the data draw


def test_the_components_are_recovered_from_many_designs():
    # capacity = 2 + D + I + e with sd 0.10, 0.05, 0.02: averaged over designs, the estimates
    # of each variance are unbiased (a negative estimate is clipped at 0, biasing small ones up)
    rng = np.random.default_rng(0)
    est = np.array([
        [v for k, v in variance_split(
            2 + rng.normal(0, 0.10, (3, 1)) + rng.normal(0, 0.05, (1, 3))
            + rng.normal(0, 0.02, (3, 3))
        ).items() if k in ("var_data", "var_init", "var_resid")]
        for _ in range(3000)
    ])  # fmt: skip
    assert est.mean(axis=0) == pytest.approx([0.01, 0.0025, 0.0004], rel=0.1)


def test_a_crossed_store_prints_its_split(tmp_path):
    rows = []
    for d in range(3):
        for i in range(3):
            bits = 1440 * (2.0 + 0.1 * d + 0.01 * i + 0.003 * ((d * i) % 2))
            rows.append(("cpu-xxs", 1440, 0, d, i, 99, bits, "saturated"))
    df = pd.DataFrame(rows, columns=["model.name", "n_params", "seed", "data.seed", "init_seed",
                                     "data.n_seqs", "bits_memorized_best", "verdict"])  # fmt: skip
    df["bits_achievable"], df["seqs_memorized"] = 99 * 58.0, 0
    summary = analyze(df, tmp_path)
    (design,) = summary["seed_designs"]
    assert design["n_data"] == 3 and design["share_data"] > 0.9
    m = summary["models"][0]
    assert m["n_seeds"] == 9 and m["seed_sd_runs"] == 9  # nine replicates, not one seed
    text = format_report(summary)
    assert "cpu-xxs: 3 data draws x 3 inits" in text and "variance: data 9" in text
    # one bound cell: no split of bounds
    df.loc[4, "verdict"] = "budget"
    again = analyze(df, tmp_path / "b")
    assert again["seed_designs"][0]["not_split"] == "1 cell(s) are lower bounds"
