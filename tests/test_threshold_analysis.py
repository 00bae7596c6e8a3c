"""Threshold analysis on hand-built probe tables, and bad input on the threshold entry points."""

import json

import pandas as pd
from conftest import run_py
from test_bad_input import assert_one_line_error

from analysis.common.figures import plt
from analysis.threshold import analyze


def probes(arch, budget, n_layer, n_head, seed, n_params, outcomes, status=None):
    return [
        {"model.arch": arch, "model.budget": budget, "model.n_layer": n_layer,
         "model.n_head": n_head, "seed": seed, "data.n_pairs": n, "memorized": int(ok),
         "n_params": n_params, "status": status or "TERMINATED"}
        for n, ok in outcomes.items()
    ]  # fmt: skip


def test_thresholds_tables_and_bits_per_param(tmp_path):
    rows = (
        probes("mlp", 10_000, 1, 1, 0, 9949, {64: 1, 128: 1, 256: 0, 192: 1, 224: 0, 200: 1,
                                               208: 0, 204: 1, 206: 0, 205: 0})  # 204
        + probes("mlp", 10_000, 1, 1, 1, 9949, {64: 1, 128: 0, 96: 1, 112: 1, 120: 0, 116: 0,
                                                 114: 1, 115: 1, 500: 1})  # 115, a flip at 500
        + probes("mlp", 10_000, 2, 1, 0, 9976, {64: 1, 128: 0, 100: 0, 80: 1, 90: 0, 85: 0,
                                                 82: 1, 83: 0})  # 82
        + probes("transformer", 64_000, 1, 32, 0, 52672, {64: 1, 128: 1})  # censored at 128
        + probes("transformer", 64_000, 1, 4, 0, 62000, {64: 1, 128: 0, 96: 1, 112: 1, 120: 1,
                                                          124: 1, 126: 1, 127: 1})  # 127
        + probes("transformer", 64_000, 1, 8, 0, 61000, {64: 1, 128: 1}, status="ERROR")
    )  # fmt: skip
    summary = analyze(pd.DataFrame(rows), tmp_path)
    th = pd.read_csv(tmp_path / "thresholds.csv")
    assert th["threshold"].tolist() == [204, 115, 82, 127, 0, 128]
    seed1 = th[(th["model.arch"] == "mlp") & (th["seed"] == 1)].iloc[0]
    assert json.loads(seed1["flips"]) == [[116, 500], [120, 500], [128, 500]]
    assert seed1["threshold_upper"] == 500
    assert th["censored"].tolist() == [False, False, False, False, False, True]
    # the errored group's probes are no outcomes: it is unresolved, not "threshold 0"
    assert th["resolved"].tolist() == [True, True, True, True, False, True]
    assert json.loads(th["unresolved"].iloc[4]) == [64, 128]
    assert abs(th["bits_per_param"].iloc[0] - 204 * 10 * 3.321928 / 9949) < 1e-4
    models = pd.read_csv(tmp_path / "models.csv")
    mlp1 = models[(models["model.arch"] == "mlp") & (models["model.n_layer"] == 1)].iloc[0]
    assert (mlp1["threshold_mean"], mlp1["threshold_min"], mlp1["threshold_max"]) == (
        159.5, 115, 204
    )  # fmt: skip
    report = summary["report"]
    assert "mlp: best depth per budget" in report and "transformer: best heads" in report
    assert "467" in report and "77" in report  # the seed's figures beside ours
    assert ">=128.0" in report  # censored marked


def test_unknown_preset():
    proc = run_py("sweeps/threshold.py", "--preset", "giant")
    assert_one_line_error(proc, "--preset", "giant", "smoke", "default", "paper")


def test_analysis_of_a_table_with_missing_columns(tmp_path):
    p = tmp_path / "t.csv"
    pd.DataFrame({"n_params": [1, 2]}).to_csv(p, index=False)
    proc = run_py("-m", "analysis.threshold", str(p))
    assert_one_line_error(proc, "lacks column(s)", "model.arch", "memorized")


def test_analysis_of_a_missing_path(tmp_path):
    proc = run_py("-m", "analysis.threshold", str(tmp_path / "nope"))
    assert_one_line_error(proc, "does not exist")


def test_resume_without_an_experiment(tmp_path):
    proc = run_py("sweeps/threshold.py", "--resume", "--storage-path", str(tmp_path))
    assert_one_line_error(proc, "--resume", "no threshold experiment")


def exact(arch, budget, n_layer, n_head, seed, n_params, threshold, protocol):
    """Probes that put a group's threshold at exactly ``threshold``."""
    rows = probes(arch, budget, n_layer, n_head, seed, n_params,
                  {threshold: 1, threshold + 1: 0})  # fmt: skip
    return [{**r, "protocol": protocol} for r in rows]


def test_each_seed_claim_gets_a_verdict_per_protocol_and_one_overall(tmp_path):
    """Under "seed" every claim holds; under "patient" deep MLPs do not collapse (the claim
    differs by protocol) and 2 blocks keep less than half of 1 block's threshold."""
    rows = []
    for seed, jitter in ((0, 0), (1, 4)):
        for protocol, deep, many_heads in (("seed", 50, 80), ("patient", 900, 300)):
            rows += exact("mlp", 10_000, 1, 1, seed, 9949, 500 + jitter, protocol)
            rows += exact("mlp", 10_000, 4, 1, seed, 9900, 300 + jitter, protocol)
            rows += exact("mlp", 90_000, 1, 1, seed, 89947, 4600 + jitter, protocol)
            rows += exact("mlp", 90_000, 4, 1, seed, 89000, deep + jitter, protocol)
            rows += exact("transformer", 64_000, 1, 1, seed, 62650, 60 + jitter, protocol)
            rows += exact("transformer", 64_000, 1, 32, seed, 52672, many_heads + jitter,
                          protocol)  # fmt: skip
            rows += exact("transformer", 64_000, 2, 1, seed, 63000, 45 + jitter, protocol)
            rows += exact("transformer", 64_000, 2, 32, seed, 60000, 70 + jitter, protocol)
    summary = analyze(pd.DataFrame(rows), tmp_path)
    claims = pd.read_csv(tmp_path / "claims.csv", keep_default_na=False)
    verdict = {(r.claim_id, r.protocol): r.verdict for r in claims.itertuples()}
    assert verdict["mlp_shallow", "seed"] == verdict["mlp_shallow", "patient"] == "held"
    assert verdict["mlp_deep_collapse", "seed"] == "held"
    assert verdict["mlp_deep_collapse", "patient"] == "did not hold"
    assert verdict["mlp_deep_collapse", "all"] == "differs by protocol"
    assert verdict["heads_help", "seed"] == "held"
    assert verdict["heads_help", "patient"] == "held"
    # 2 blocks / 1 block: seed 45/60 and 70/80 (median 0.81); converged 45/60, 70/300 (0.49)
    assert verdict["depth_mildly_hurts", "seed"] == "held"  # both shapes' seed ranges apart
    assert verdict["depth_mildly_hurts", "patient"] == "did not hold"
    assert verdict["transformers_less_efficient", "all"] == "held"
    assert "Deep MLPs collapse even with more parameters: differs by protocol" in summary["report"]
    models = pd.read_csv(tmp_path / "models.csv", keep_default_na=False)
    assert set(models["protocol"]) == {"seed", "patient"} and len(models) == 16
    assert (models["n_seeds"] == 2).all()


def test_a_table_without_protocols_is_one_protocol(tmp_path):
    rows = probes("mlp", 10_000, 1, 1, 0, 9949, {64: 1, 128: 0})
    analyze(pd.DataFrame(rows), tmp_path)
    models = pd.read_csv(tmp_path / "models.csv", keep_default_na=False)
    assert models["protocol"].tolist() == [""]


def censored(arch, budget, n_layer, n_head, seed, n_params, cap, protocol="patient"):
    """Probes of a group that memorized the largest size probed: threshold >= cap."""
    rows = probes(arch, budget, n_layer, n_head, seed, n_params, {cap // 2: 1, cap: 1})
    return [{**r, "protocol": protocol} for r in rows]


def verdicts_of(rows, tmp_path):
    analyze(pd.DataFrame(rows), tmp_path)
    claims = pd.read_csv(tmp_path / "claims.csv", keep_default_na=False)
    return {(r.claim_id, r.protocol): (r.verdict, r.measured) for r in claims.itertuples()}


def test_a_comparison_with_a_lower_bound_is_not_decided_unless_the_bound_decides_it(tmp_path):
    rows = []
    for seed in (0, 1):
        # heads: 1 head >= 256 (capped) against 32 heads at 300: the bound could pass 300
        rows += censored("transformer", 64_000, 1, 1, seed, 62650, 256)
        rows += exact("transformer", 64_000, 1, 32, seed, 52672, 300, "patient")
        # depth: two capped MLP depths, nothing is compared
        rows += censored("mlp", 10_000, 1, 1, seed, 9949, 512)
        rows += censored("mlp", 10_000, 2, 1, seed, 9976, 600)
        # the seed rule: 1 head exact at 40, 32 heads capped at 64: the bound already decides
        rows += exact("transformer", 64_000, 1, 1, seed, 62650, 40, "seed")
        rows += censored("transformer", 64_000, 1, 32, seed, 52672, 64, "seed")
        rows += exact("mlp", 10_000, 1, 1, seed, 9949, 500, "seed")
        rows += exact("mlp", 10_000, 2, 1, seed, 9976, 300 + 10 * seed, "seed")
    v = verdicts_of(rows, tmp_path)
    assert v["heads_help", "patient"][0] == "not decided"
    assert "rho not computed over lower bounds" in v["heads_help", "patient"][1]
    assert v["heads_help", "seed"][0] == "held"
    assert v["heads_help", "all"][0] == "held (not decided under another protocol)"
    assert v["mlp_shallow", "patient"][0] == "not decided"
    assert v["mlp_shallow", "seed"][0] == "held"
    # 32 heads are exact and below the MLPs, but the capped 1-head group could still pass them
    assert v["transformers_less_efficient", "patient"][0] == "not decided"


def test_a_lower_bound_below_an_exact_value_decides_nothing_but_above_it_does(tmp_path):
    rows = []
    for seed in (0, 1):
        rows += exact("mlp", 10_000, 1, 1, seed, 9949, 500 + seed, "patient")  # ~4.5 b/p
        rows += censored("transformer", 64_000, 1, 1, seed, 62650, 64)  # >= 0.1 bits/param
        rows += exact("transformer", 64_000, 1, 32, seed, 52672, 30, "patient")
    v = verdicts_of(rows, tmp_path)
    # the capped 1-head group is already above the exact 32-head one: decided, did not hold
    assert v["heads_help", "patient"][0] == "did not hold"
    # the best transformer is capped: its bits/param is printed as a bound, and although it is
    # below the best MLP it could still rise past it
    verdict, measured = v["transformers_less_efficient", "patient"]
    assert verdict == "not decided"
    assert "best transformer transformer-64k-L1-H1 >=0.03 bits/param (>=64 mappings)" in measured


def test_the_overall_verdict_keeps_its_qualifier():
    from analysis.threshold.claims import overall_verdict

    assert overall_verdict(["held (within the seed range)", "held"]) == (
        "held (within the seed range)"
    )
    assert overall_verdict(["held", "did not hold"]) == "differs by protocol"
    assert overall_verdict(["not decided", "not measured"]) == "not decided"
    assert overall_verdict(["not measured"]) == "not measured"


def bound_points(fig) -> set[tuple[float, float]]:
    """(x, y) of every point a figure draws as a lower bound (the artists, not the pixels)."""
    from analysis.threshold.plots import BOUND_GID

    return {
        (float(x), float(y))
        for line in fig.axes[0].get_lines()
        if line.get_gid() == BOUND_GID
        for x, y in zip(line.get_xdata(), line.get_ydata(), strict=True)
    }


def filled_points(fig) -> set[tuple[float, float]]:
    """(x, y) of the filled dots: the thresholds a figure presents as measured."""
    return {
        (float(x), float(y))
        for line in fig.axes[0].get_lines()
        if line.get_marker() == "o" and line.get_gid() is None
        for x, y in zip(line.get_xdata(), line.get_ydata(), strict=True)
    }


def test_a_capped_group_is_drawn_as_a_lower_bound(tmp_path):
    """A transformer that memorized every size up to the cap is a triangle, not a dot, and the
    legend says "lower bound (cap)"; a measured threshold beside it stays a filled dot."""
    from analysis.threshold.plots import (
        plot_threshold_bits_per_param,
        plot_threshold_vs_heads,
        plot_threshold_vs_params,
    )
    from analysis.threshold.report import per_model, thresholds

    rows = (
        censored("transformer", 64_000, 1, 32, 0, 52672, 256)
        + [{**r, "protocol": "patient"} for r in probes(
            "transformer", 64_000, 1, 4, 0, 62000, {64: 1, 128: 0, 96: 1, 112: 0})]  # 96
    )  # fmt: skip
    models = per_model(thresholds(pd.DataFrame(rows)))
    heads = plot_threshold_vs_heads(models)
    assert bound_points(heads) == {(32.0, 256.0)}
    assert filled_points(heads) == {(4.0, 96.0)}
    labels = heads.axes[0].get_legend_handles_labels()[1]
    assert "lower bound (cap)" in labels and "lower bound (unresolved)" not in labels
    assert (52672.0, 256.0) in bound_points(plot_threshold_vs_params(models))
    bpp = plot_threshold_bits_per_param(models)
    capped = models[models["model.n_head"] == 32]["bits_per_param"].iloc[0]
    assert bound_points(bpp) == {(52672.0, capped)}
    offsets = {tuple(map(float, o)) for c in bpp.axes[0].collections for o in c.get_offsets()}
    assert (52672.0, capped) not in offsets  # not drawn as a measured point as well
    plt.close("all")


def test_an_unresolved_group_is_a_lower_bound_of_its_own_kind(tmp_path):
    from analysis.threshold.plots import plot_threshold_vs_depth
    from analysis.threshold.report import per_model, thresholds

    ended = pd.DataFrame(probes("mlp", 10_000, 1, 1, 0, 9949, {64: 1}))
    crashed = pd.DataFrame(probes("mlp", 10_000, 1, 1, 0, 9949, {128: 0}, status="ERROR"))
    models = per_model(thresholds(ended.assign(protocol=""), crashed.assign(protocol="")))
    fig = plot_threshold_vs_depth(models)
    assert bound_points(fig) == {(1.0, 64.0)} and not filled_points(fig)
    assert "lower bound (unresolved)" in fig.axes[0].get_legend_handles_labels()[1]
    plt.close(fig)
