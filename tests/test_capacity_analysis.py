"""Capacity analysis on hand-built tables: verdicts decide what is fitted and what is a bound."""

import json
import math

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


def strict_json(path):
    """The file parsed by a reader that refuses NaN and Infinity, as jq and browsers do."""

    def refuse(name):
        raise ValueError(f"not JSON: {name}")

    return json.loads(path.read_text(), parse_constant=refuse)


def test_a_budget_trial_with_room_to_pass_keeps_a_capacity_a_lower_bound(tmp_path):
    # b seed 0's N=500 trial ended on its budget at 3,000 bits, under the 4,000 its saturated
    # trial stored; its data holds 29,000, so it could still pass: b seed 0 is a lower bound
    summary = analyze(three_models(budget_bits=3000.0), tmp_path)
    assert summary["bits_per_param"] == pytest.approx(2.0, rel=0.02)
    assert summary["fit_on"] == "converged capacities" and summary["n_points"] == 5
    assert summary["verdicts"] == {"memorized": 6, "saturated": 6, "budget": 1}
    assert [(r["model.name"], r["seed"]) for r in summary["left_out"]] == [("b", 0)]
    assert "could still pass it" in summary["left_out"][0]["reason"]
    text = format_report(summary)
    assert "left out of the fit: b seed 0 (lower bound: budget)" in text


def test_a_rising_budget_trial_just_below_a_saturated_one_is_not_converged(tmp_path):
    # the cpu preset's case: seed 1 saturated at 1.917 bits/param while its other trial rose
    # 3.4% over its last third at the cap, 3.5% below it
    df = table([
        ("x", 1440, 1, 68, 1.917 * 1440, "saturated"),
        ("x", 1440, 1, 135, 1.850 * 1440, "budget"),
        ("y", 2736, 1, 128, 1.8 * 2736, "saturated"),
    ])  # fmt: skip
    df["recent_gain"] = [0.008, 0.034, 0.005]
    cap = capacities(with_verdicts(df))
    x = cap[cap["model.name"] == "x"].iloc[0]
    assert x["status"] == "lower bound: budget" and not x["plateau_reached"]
    assert "N=135 trial ended on its budget 3.5% below it, still rising +3.4%" in x["reason"]
    # a budget trial whose data holds fewer bits than the capacity cannot pass it
    df.loc[1, "bits_achievable"] = 1.9 * 1440
    assert capacities(with_verdicts(df))["plateau_reached"].all()


def test_no_line_through_lower_bounds(tmp_path):
    # true capacity 2 bits/param for both; the small model is the most under-trained, so a line
    # through the two lower bounds (slope 2.6) is steeper than the truth: none is printed
    df = table([("small", 1000, 0, 70, 800.0, "budget"), ("large", 4000, 0, 280, 8600.0, "budget")])
    df["recent_gain"] = 0.05
    summary = analyze(df, tmp_path)
    assert summary["bits_per_param"] is None and summary["n_points"] == 0
    assert summary["no_fit_reason"].startswith("no capacity fit: 0 model size(s)")
    saved = strict_json(tmp_path / "summary.json")
    assert saved["bits_per_param"] is None and saved["bits_per_param_ci95"] == [None, None]
    text = format_report(summary)
    assert "bits per parameter =" not in text and "no capacity fit" in text
    assert ">=0.800" in text and ">=2.150" in text
    from analysis.capacity.plots import plot_capacity_fit

    fig = plot_capacity_fit(capacities(with_verdicts(df)), None)
    assert len(fig.axes[0].lines) == 1  # Morris et al.'s reference only, no fit line


def test_one_converged_size_is_no_fit_and_the_others_are_named(tmp_path):
    df = table([("small", 1000, 0, 70, 1900.0, "saturated"), ("large", 4000, 0, 280, 8600.0,
                                                               "budget")])  # fmt: skip
    summary = analyze(df, tmp_path)
    assert summary["bits_per_param"] is None
    assert "1 model size(s) have a converged capacity (small)" in summary["no_fit_reason"]
    models = {m["model.name"]: m for m in summary["models"]}
    assert models["small"]["bound"] == "" and models["large"]["bound"] == ">="
    assert [r["model.name"] for r in summary["left_out"]] == ["large"]


def test_the_slopes_interval_is_clustered_by_model(tmp_path):
    # seeds of one model share its offset from the line: three points per model are not
    # independent evidence, so the interval is wider than OLS's over nine points
    rows = []
    for name, p, offset in [("a", 1000, 300.0), ("b", 2000, -400.0), ("c", 4000, 200.0)]:
        rows += [(name, p, seed, 100, 2 * p + offset + 10 * seed, "saturated") for seed in range(3)]
    df = table(rows)
    summary = analyze(df, tmp_path)
    assert summary["interval"].startswith("cluster-robust by model (3 clusters")
    from analysis.common.fit import fit_linear

    ols = fit_linear(df["n_params"], df["bits_memorized_best"])
    lo, hi = summary["bits_per_param_ci95"]
    assert hi - lo > ols.ci95[0, 1] - ols.ci95[0, 0]
    models = {m["model.name"]: m for m in summary["models"]}
    assert models["a"]["bpp"] == pytest.approx((2000 + 300 + 10) / 1000)
    assert models["a"]["bpp_ci95_low"] < models["a"]["bpp"] < models["a"]["bpp_ci95_high"]
    assert "bits/param" in format_report(summary).splitlines()[6]


def test_per_model_figures_and_the_ground_truth(tmp_path):
    df = table([("cpu-xxs", 1440, s, 90, b * 1440, "saturated") for s, b in [(0, 1.9), (1, 1.92)]]
               + [("cpu-s", 4416, 0, 276, 1.95 * 4416, "saturated")])  # fmt: skip
    summary = analyze(df, tmp_path)
    models = {m["model.name"]: m for m in summary["models"]}
    # compared with the long run at the N nearest its own (99, not 256: bits fall with N)
    assert models["cpu-xxs"]["vs_ground_truth"] == pytest.approx(1.91 / 2.036 - 1)
    assert models["cpu-xxs"]["ground_truth_n_seqs"] == 99
    assert models["cpu-s"]["bpp_ci95_low"] is None or math.isnan(models["cpu-s"]["bpp_ci95_low"])
    saved = strict_json(tmp_path / "summary.json")  # one-seed intervals are null, not NaN
    assert {m["model.name"]: m["bpp_ci95_low"] for m in saved["models"]}["cpu-s"] is None
    assert "2.036 at N=99 (-6.2%)" in format_report(summary)


def test_a_seed_flat_below_another_is_a_sample_of_the_capacity_not_a_lesser_run(tmp_path):
    # one meaning per word: a converged seed is the model's capacity under the protocol (the
    # mean over seeds), never also "optimizer-limited"; the best seed is printed beside it
    df = table([("cpu-xxs", 1440, 0, 90, 2.0 * 1440, "saturated"),
                ("cpu-xxs", 1440, 1, 90, 1.55 * 1440, "saturated"),
                ("cpu-s", 4416, 0, 276, 1.70 * 4416, "saturated")])  # fmt: skip
    summary = analyze(df, tmp_path)
    assert not [w for w in summary["warnings"] if "optimizer" in w]
    m = {r["model.name"]: r for r in summary["models"]}["cpu-xxs"]
    assert m["bpp"] == pytest.approx(1.775) and m["n_converged"] == 2 and m["bound"] == ""
    assert m["bpp_best_seed"] == pytest.approx(2.0) and m["best_seed"] == "seed 0"
    # its own two seeds give its spread: sd / mean of (2.0, 1.55)
    assert m["seed_sd"] == pytest.approx(0.45 / math.sqrt(2) / 1.775)
    assert "optimizer-limited" not in format_report(summary)


def test_no_mean_is_printed_below_a_bound_its_own_seeds_set(tmp_path):
    # the documented cpu-xs seeds: 1.838 and 1.767 saturated, seed 1 a lower bound at 1.995
    # (budget, still rising): the mean over all three, the bound counted at its bound, is
    # >= 1.867; the mean over the converged two (1.803) is below what the data bound
    rows = [("cpu-xs", 2736, 0, 191, 1.838 * 2736, "saturated"),
            ("cpu-xs", 2736, 1, 191, 1.995 * 2736, "budget"),
            ("cpu-xs", 2736, 2, 191, 1.767 * 2736, "saturated")]  # fmt: skip
    df = table(rows)
    df["recent_gain"] = [0.01, 0.02, 0.01]
    summary = analyze(df, tmp_path)
    m = summary["models"][0]
    assert m["bound"] == ">=" and m["bpp"] == pytest.approx((1.838 + 1.995 + 1.767) / 3)
    assert round(m["bpp"], 3) == 1.867 and m["n_bound"] == 1
    assert math.isnan(m["bpp_ci95_low"]) and m["best_seed_bound"] == ">="
    text = format_report(summary)
    assert ">=1.867" in text and "1.803" not in text
    assert "cpu-xs: >=1.867 bits/param over 3 seeds" in text


def test_a_one_seed_model_carries_its_stored_seed_spread(tmp_path, monkeypatch):
    import analysis.capacity.report as report

    monkeypatch.setitem(report.SEED_SPREAD, "cpu-xxs", (0.061, 9, "3 x 3 data/init"))
    df = table([("cpu-xxs", 1440, 0, 99, 2.09 * 1440, "saturated"),
                ("cpu-zz", 2000, 0, 99, 2.0 * 2000, "saturated")])  # fmt: skip
    summary = analyze(df, tmp_path)
    text = format_report(summary)
    assert "cpu-xxs: 2.090 bits/param over 1 seed (seed spread +-6%, 9 seeds measured)" in text
    assert "cpu-zz: 2.000 bits/param over 1 seed (seed spread not measured" in text
    assert "+-6.1% (stored, 9)" in text


def test_the_capacity_is_the_level_not_the_best_evaluation(tmp_path):
    # a trial's figure is its level over the judged window; the best of its evaluations sits
    # above it by the swing and is only a diagnostic
    df = table([("m", 1000, 0, 99, 2300.0, "saturated"), ("n", 2000, 0, 99, 4300.0, "saturated")])
    df["bits_memorized_level"] = [2000.0, 4000.0]
    summary = analyze(df, tmp_path)
    assert {m["model.name"]: m["bpp"] for m in summary["models"]} == {"m": 2.0, "n": 2.0}
    assert summary["bits_per_param"] == pytest.approx(2.0)
    assert not [w for w in summary["warnings"] if "predate the level" in w]
    # a store that predates the level falls back to the best, and says so
    old = analyze(df.drop(columns="bits_memorized_level"), tmp_path / "old")
    assert [w for w in old["warnings"] if "predate the level estimator" in w]


def test_only_memorized_trials_give_a_data_limited_lower_bound():
    df = with_verdicts(three_models())
    df = df[~((df["model.name"] == "a") & (df["verdict"] == "saturated"))]
    cap = capacities(df)
    a = cap[cap["model.name"] == "a"]
    assert (a["status"] == "lower bound: data").all() and not a["plateau_reached"].any()
    assert a["reason"].str.contains("add larger n_seqs").all()


def test_a_larger_n_that_saturated_lower_is_no_call_for_larger_n():
    df = with_verdicts(table([("a", 1000, 0, 30, 1700.0, "memorized"),
                              ("a", 1000, 0, 70, 1500.0, "saturated")]))  # fmt: skip
    a = capacities(df).iloc[0]
    assert a["status"] == "lower bound: data" and "add larger n_seqs" not in a["reason"]
    assert "the larger N=70 saturated lower" in a["reason"]


def test_bits_falling_past_the_knee_are_flagged(tmp_path):
    df = three_models()
    df = pd.concat([df, table([("a", 1000, 0, 200, 1000.0, "saturated")])], ignore_index=True)
    summary = analyze(df, tmp_path)
    assert any("bits fall past the knee: a seed 0: N=200" in w for w in summary["warnings"])


def test_old_stores_without_verdicts_are_lower_bounds_and_say_so(tmp_path):
    df = three_models().drop(columns="verdict")
    summary = analyze(df, tmp_path)
    assert summary["bits_per_param"] is None
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
    strict_json(tmp_path / "protocol.json")


def test_a_protocol_study_names_settings_that_did_not_finish(tmp_path):
    df = table([("a", 1000, 0, 70, 1900.0, "saturated"), ("a", 1000, 0, 70, 900.0, "")])
    df["optim.name"] = ["wsd", "plateau"]
    df["step"], df["train_seconds"], df["eval_seconds"] = [9000, 3000], 60.0, 3.0
    df["status"] = ["TERMINATED", "ERROR"]
    text = format_report(analyze(df, tmp_path))
    assert "incomplete (ERROR)" in text
    assert "incomplete: 1 trial(s) did not finish, their figures are partial: plateau on a" in text


def test_a_study_over_two_models_keeps_settings_apart(tmp_path):
    rows = [
        ("a", 1000, 0, 70, 1900.0, "saturated"),
        ("a", 1000, 0, 70, 1500.0, "saturated"),
        ("b", 2000, 0, 140, 3000.0, "saturated"),
        ("b", 2000, 0, 140, 3900.0, "saturated"),
    ]
    df = table(rows)
    df["optim.name"] = ["wsd", "cosine", "wsd", "cosine"]
    df["step"], df["train_seconds"], df["eval_seconds"] = 9000, 60.0, 3.0
    cap = capacities(with_verdicts(df))
    assert len(cap) == 4  # one capacity per (model, seed, setting), none pooled
    summary = analyze(df, tmp_path)
    assert "bits_per_param" not in summary  # settings are compared, not fitted
    by = {(r["setting"], r["model.name"]): r["bpp"] for r in summary["protocol"]}
    assert by["wsd", "a"] == 1.9 and by["cosine", "b"] == 1.95


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


def test_protocol_settings_are_compared_on_paired_seeds(tmp_path):
    # the rerun study's figures: seeds differ by 0.3, settings by ~0.02 on each seed
    per_seed = {"wsd": [1.973, 2.168, 1.891], "plateau": [1.944, 2.168, 1.872],
                "cosine": [1.967, 2.132, 1.847]}  # fmt: skip
    rows, names = [], []
    for setting, values in per_seed.items():
        for seed, v in enumerate(values):
            rows.append(("cpu-xxs", 1440, seed, 99, v * 1440, "saturated"))
            names.append(setting)
    df = table(rows)
    df["optim.name"], df["step"], df["train_seconds"], df["eval_seconds"] = names, 1, 1.0, 0.0
    summary = analyze(df, tmp_path)
    by = {c["setting"]: c for c in summary["protocol_comparisons"]}
    assert by["plateau"]["reference"] == "wsd" and by["plateau"]["paired"]
    assert by["plateau"]["diff"] == pytest.approx(-0.016, abs=1e-9)
    assert by["plateau"]["verdict"] == "not decided"  # [-0.053, +0.021] covers 0
    assert by["plateau"]["ci95_low"] == pytest.approx(-0.0525, abs=5e-4)
    assert "cpu-xxs cosine - wsd: -0.029" in format_report(summary)
    # one seed a setting decides nothing
    one = analyze(df[df["seed"] == 0], tmp_path / "one")
    assert {c["verdict"] for c in one["protocol_comparisons"]} == {"not decided"}


def test_the_default_one_seed_cpu_xxs_carries_the_measured_3x3_spread(tmp_path):
    df = table([("cpu-xxs", 1440, 0, 99, 2.0 * 1440, "saturated")])
    text = format_report(analyze(df, tmp_path))
    assert "cpu-xxs: 2.000 bits/param over 1 seed (seed spread +-4%, 9 seeds measured)" in text
