"""Capacity analysis on hand-built tables: verdicts decide what is fitted and what is a bound."""

import pandas as pd
import pytest

from analysis.capacity.report import analyze, capacities, format_report, with_verdicts


def table(rows):
    cols = ["model.name", "n_params", "seed", "data.n_seqs", "bits_memorized_best", "verdict"]
    df = pd.DataFrame(rows, columns=cols)
    df["bits_achievable"] = df["data.n_seqs"] * 58.0
    df["seqs_memorized"] = 0
    return df


def three_models(budget_bits=3000.0):
    """Three models at 2 bits/param: half-knee trials memorized, 2x-knee trials saturated, and
    one budget-limited trial of b at a large N."""
    rows = []
    for name, p in [("a", 1000), ("b", 2000), ("c", 4000)]:
        for seed in [0, 1]:
            knee = 2 * p / 58
            rows += [
                (name, p, seed, int(knee / 2), 2 * p * 0.5, "memorized"),
                (name, p, seed, int(2 * knee), 2 * p * (1 + 0.01 * seed), "saturated"),
            ]
    rows.append(("b", 2000, 0, 500, budget_bits, "budget"))
    return table(rows)


def test_budget_trials_are_not_capacity_evidence(tmp_path):
    summary = analyze(three_models(budget_bits=3000.0), tmp_path)  # less than b's saturated 4000
    assert summary["bits_per_param"] == pytest.approx(2.0, rel=0.02)
    assert summary["fit_on"] == "converged capacities" and summary["n_points"] == 6
    assert summary["verdicts"] == {"memorized": 6, "saturated": 6, "budget": 1}
    text = format_report(summary)
    assert "trial verdicts:" in text and "2/2" in text and "/2 LB" not in text


def test_a_budget_trial_storing_more_than_the_saturated_ones_makes_the_capacity_a_bound(tmp_path):
    # b seed 0 stored 5,000 bits in a run stopped by its budget: its capacity is at least that,
    # not the 4,000 its saturated trial ended on, and it is not converged
    summary = analyze(three_models(budget_bits=5000.0), tmp_path)
    b0 = pd.read_csv(tmp_path / "capacity.csv").query("`model.name` == 'b' and seed == 0")
    assert b0["capacity_bits"].item() == 5000.0 and not b0["plateau_reached"].item()
    assert summary["n_points"] == 5  # fitted on the converged capacities only
    text = format_report(summary)
    assert "lower bound: b seed 0" in text and "saturated trials stored 20% less" in text
    for f in ["bits_vs_dataset.png", "capacity_vs_params.png", "summary.json"]:
        assert (tmp_path / f).exists()


def test_a_capacity_without_a_saturated_trial_is_a_lower_bound_and_says_why(tmp_path):
    df = three_models()
    only_budget = (df["model.name"] == "c") & (df["seed"] == 1)
    df.loc[only_budget, "verdict"] = "budget"
    df["recent_gain"] = 0.04
    summary = analyze(df, tmp_path)
    text = format_report(summary)
    assert "lower bound: c seed 1" in text and "ran out of steps" in text and "+4.0%" in text
    assert "1/2 LB" in text
    assert summary["n_points"] == 5  # c seed 1 is drawn hollow, not fitted


def test_only_memorized_trials_give_a_data_limited_lower_bound():
    df = with_verdicts(three_models())
    df = df[~((df["model.name"] == "a") & (df["verdict"] == "saturated"))]
    cap = capacities(df)
    a = cap[cap["model.name"] == "a"]
    assert (a["status"] == "lower bound: data").all() and not a["plateau_reached"].any()


def test_bits_falling_past_the_knee_are_flagged(tmp_path):
    df = three_models()
    df = pd.concat([df, table([("a", 1000, 0, 200, 1000.0, "saturated")])], ignore_index=True)
    summary = analyze(df, tmp_path)
    assert any("bits fall past the knee: a seed 0: N=200" in w for w in summary["warnings"])


def test_old_stores_without_verdicts_fit_lower_bounds_and_say_so(tmp_path):
    df = three_models().drop(columns="verdict")
    summary = analyze(df, tmp_path)
    assert summary["fit_on"] == "lower bounds"
    assert any("has no verdicts" in w for w in summary["warnings"])


def test_a_protocol_study_prints_its_table_without_a_fit(tmp_path):
    df = table(
        [("a", 1000, 0, 70, v, verdict) for v, verdict in [(1500, "budget"), (2100, "saturated")]]
    )
    df["optim.name"] = ["cosine", "wsd"]
    df["step"], df["train_seconds"], df["eval_seconds"] = [15000, 9000], [100.0, 60.0], [5.0, 3.0]
    summary = analyze(df, tmp_path)
    text = format_report(summary)
    assert "bits per parameter" not in text
    lines = text.splitlines()
    assert lines[2].split()[:2] == ["wsd", "a"] and "2.100" in lines[2] and "saturated" in lines[2]
    assert (tmp_path / "protocol.csv").exists()


def test_the_ground_truth_check_reads_the_last_third(tmp_path):
    import json
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from capacity_truth import judge, lr_at

    assert lr_at(50, 3000, 1.0) == pytest.approx(0.51)
    assert lr_at(1499, 3000, 1.0) == 1.0 and lr_at(2500, 3000, 1.0) == pytest.approx(0.05)
    log = [
        {"step": s, "seconds": s / 100, "bits": 1000 + (s < 2000) * s / 10 + s / 1000,
         "eff": 0.5, "n_params": 500, "bits_per_param": 2.0}
        for s in range(1000, 3001, 1000)
    ]  # fmt: skip
    (tmp_path / "r.json").write_text(json.dumps({"model": "m", "N": 9, "steps": 3000, "log": log}))
    j = judge(str(tmp_path / "r.json"))
    assert j["converged"] and j["last_third_change"] == pytest.approx(1 / 1003)


def test_the_protocol_figure_draws_one_line_per_setting():
    from analysis.capacity.plots import plot_protocol

    h = pd.DataFrame({
        "optim.name": ["a", "a", "b", "b"], "model.name": "m", "trial_id": ["1", "1", "2", "2"],
        "train_seconds": [1.0, 2.0, 1.0, 3.0], "eval_seconds": 0.1,
        "bits_memorized_best": [10.0, 20.0, 5.0, 25.0], "n_params": 10,
    })  # fmt: skip
    assert len(plot_protocol(h).axes[0].lines) == 2
