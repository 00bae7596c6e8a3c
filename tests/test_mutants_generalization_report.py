"""The generalization claims (analysis.generalization.report) part by part, on hand-built tables,
at exact values: the per-size table and its noise floor, why a claim cannot be decided, each
claim's whole output (what the summary JSON and the printed report carry), and the edges of its
rules. Fast (no analysis run, no figure), so the mutation run uses them (docs/testing.md)."""

import math

import numpy as np
import pandas as pd
import pytest

from analysis.generalization.fit import CRITERION, RIVAL, cross_validate, predict_sigmoid
from analysis.generalization.report import (
    HELD,
    NOT_HELD,
    UNDECIDED,
    _by_n,
    _floor,
    _no_seed_range,
    claim_double_descent,
    claim_memorization,
    claim_sigmoid,
    prepare,
    recompute,
)

N = (25, 50, 100, 200, 400)  # N* = 100: multiples 0.25, 0.5, 1, 2, 4


def _sizes(by_seed, half=(0.0,) * 5, verdicts=None, step=8000):
    """One model (capacity 1000 bits, N* = 100) with a row per (N, seed): ``by_seed`` is one
    mem_U excess list (bits) per seed; its held-out excess is the same / 1000 (bits/token).
    ``half``: each size's bootstrap half-width (bits; / 1000 for the held-out excess)."""
    rows = [
        {"model.name": "m", "seed": seed, "n_params": 500, "n_seqs": x, "crossing_n_seqs": 100.0,
         "capacity_bits": 1000.0, "data_bits": 60.0 * x, "mem_u_bits": v,
         "mem_u_heldout_bits": 0.0, "heldout_excess_bits_per_token": v / 1000, "auroc_loss": 0.7,
         "f1_loss": 0.7, "verdict": verdicts[i] if verdicts else "saturated",
         "mem_u_excess_ci95_half_bits": h, "heldout_excess_ci95_half_bits_per_token": h / 1000,
         "step": step}
        for seed, values in enumerate(by_seed)
        for i, (x, v, h) in enumerate(zip(N, values, half, strict=True))
    ]  # fmt: skip
    return prepare(pd.DataFrame(rows))


# seeds 40 apart at N = 25, 100 and 80 apart at 400; bootstrap half-widths 30, 40, 0, 0, 60
A = [200.0, 600.0, 1000.0, 900.0, 500.0]
B = [240.0, 600.0, 1040.0, 900.0, 420.0]
HALF = (30.0, 40.0, 0.0, 0.0, 60.0)


def test_by_n_per_size_over_converged_seeds():
    m, note = _by_n(_sizes([A, B], HALF), "mem_u_excess_bits", "mem_u_excess_ci95_half_bits")
    assert note == ""
    assert list(m.index) == list(N)
    assert m["mean"].tolist() == [220.0, 600.0, 1020.0, 900.0, 460.0]
    assert m["range"].tolist() == [40.0, 0.0, 40.0, 0.0, 80.0]
    assert m["seeds"].tolist() == [2] * 5
    assert m["multiple"].tolist() == [0.25, 0.5, 1.0, 2.0, 4.0]
    # the mean's half-width: sqrt(h^2 + h^2) / 2 seeds
    assert m["half"].tolist() == pytest.approx([30 / math.sqrt(2), 40 / math.sqrt(2), 0, 0,
                                                60 / math.sqrt(2)])  # fmt: skip
    # three seeds at N = 25 with halves 30, 40 and 0: sqrt(900 + 1600) / 3
    third = _sizes([A], HALF).iloc[:1].assign(seed=2, mem_u_excess_ci95_half_bits=0.0)
    three = pd.concat([_sizes([A, B], (30.0, 0, 0, 0, 0)).assign(
        mem_u_excess_ci95_half_bits=lambda d: np.where(d["seed"] == 1, 40.0, d[
            "mem_u_excess_ci95_half_bits"])), third], ignore_index=True)  # fmt: skip
    m, _ = _by_n(three, "mem_u_excess_bits", "mem_u_excess_ci95_half_bits")
    assert m.at[25, "seeds"] == 3 and m.at[25, "half"] == pytest.approx(50 / 3)
    assert m.at[25, "mean"] == pytest.approx(640 / 3) and m.at[25, "range"] == 40.0
    # no half-width column: nan, not 0 (a plain table has no bootstrap)
    m, _ = _by_n(_sizes([A, B]).drop(columns="mem_u_excess_ci95_half_bits"),
                 "mem_u_excess_bits", "mem_u_excess_ci95_half_bits")  # fmt: skip
    assert m["half"].isna().all() and m["mean"].tolist() == [220.0, 600.0, 1020.0, 900.0, 460.0]


def test_by_n_half_width_is_nan_when_one_seed_lacks_its_own():
    """One seed's half-width alone is not the mean's: a size where a trial has none gets nan
    (its noise floor then rests on the seed range), the other sizes keep theirs."""
    df = _sizes([A, B], HALF)
    df.loc[(df["n_seqs"] == 25) & (df["seed"] == 1), "mem_u_excess_ci95_half_bits"] = np.nan
    m, _ = _by_n(df, "mem_u_excess_bits", "mem_u_excess_ci95_half_bits")
    assert np.isnan(m.at[25, "half"])
    assert m.at[50, "half"] == pytest.approx(40 / math.sqrt(2))


def test_by_n_names_the_budget_trials_and_the_sizes_with_one_converged_seed():
    verdicts = ["saturated", "budget", "memorized", "saturated", "saturated"]
    df = _sizes([A, B], HALF)
    df.loc[(df["n_seqs"] == 50), "verdict"] = "budget"
    df.loc[(df["n_seqs"] == 400) & (df["seed"] == 0), "verdict"] = "budget"
    df = prepare(df)
    m, note = _by_n(df, "mem_u_excess_bits", "mem_u_excess_ci95_half_bits")
    assert note == ("; budget trials left out: N=50 seed 0, N=50 seed 1, N=400 seed 0; sizes "
                    "with fewer than 2 converged seeds left out: N=400")  # fmt: skip
    assert list(m.index) == [25, 100, 200]
    # every size with one seed: nothing left, and no note about sizes (no size has 2)
    m, note = _by_n(_sizes([A], HALF, verdicts), "mem_u_excess_bits",
                    "mem_u_excess_ci95_half_bits")  # fmt: skip
    assert m.empty and note == "; budget trials left out: N=50 seed 0"


def test_floor_is_the_largest_of_both_ranges_the_halves_in_quadrature_and_least():
    m = pd.DataFrame({"range": [40.0, 0.0, 10.0], "half": [30.0, 40.0, np.nan]},
                     index=[25, 50, 100])  # fmt: skip
    assert _floor(m, 25, 50) == 50.0  # hypot(30, 40)
    assert _floor(m, 50, 25) == 50.0
    assert _floor(m, 25, 50, least=60.0) == 60.0
    m.loc[50, "range"] = 55.0
    assert _floor(m, 25, 50) == 55.0 and _floor(m, 50, 25) == 55.0  # either size's range
    assert _floor(m, 25, 25) == pytest.approx(max(40.0, 30 * math.sqrt(2)))
    assert isinstance(_floor(m, 25, 50), float)


def test_no_seed_range_says_why():
    col = "mem_u_excess_ci95_half_bits"
    ok = _sizes([A, B], HALF)
    m, _ = _by_n(ok, "mem_u_excess_bits", col)
    assert _no_seed_range(ok, m, col) == ""
    none = prepare(ok.assign(verdict="budget"))
    assert _no_seed_range(none, m, col) == "no converged trials"
    one = _sizes([A], HALF)
    assert _no_seed_range(one, m, col) == (
        "needs >= 2 converged seeds per size (one seed has no seed range, so no noise floor); has 1"
    )
    # the most seeds any size has: 2 at N = 25 is enough to look further
    mixed = pd.concat([one, ok[(ok["seed"] == 1) & (ok["n_seqs"] == 25)]], ignore_index=True)
    assert _no_seed_range(mixed, m, col) == ""
    m.loc[200, "half"] = np.nan
    assert _no_seed_range(ok, m, col) == (
        "no bootstrap over sequences (mem_u_excess_ci95_half_bits missing: analyse the "
        "experiment, whose per-sequence records give it)"
    )
    assert _no_seed_range(ok, m.iloc[:0], col) == ""  # no size left: nothing is missing


def test_claim_memorization_whole_output():
    c = claim_memorization(_sizes([A, B], HALF))
    assert c == {
        "capacity_bits": 1000.0, "peak_mem_u_excess_bits": 1020.0, "peak_n_seqs": 100,
        "peak_multiple": 1.0, "peak_over_capacity": 1.02, "largest_n_mem_u_excess_bits": 460.0,
        # the largest N's range (80) beats the peak's (40), the halves (hypot(0, 42.4) = 42.4)
        # and 5% of the capacity (50)
        "fall_floor_bits": 80.0,
        "mem_u_excess_ci95_half_bits_by_n": {
            "25": pytest.approx(30 / math.sqrt(2)), "50": pytest.approx(40 / math.sqrt(2)),
            "100": 0.0, "200": 0.0, "400": pytest.approx(60 / math.sqrt(2)),
        },
        "rise": True, "plateau": True, "fall": True, "verdict": HELD,
        "why": "rises to N*, peaks near capacity, falls",
    }  # fmt: skip
    assert type(c["peak_n_seqs"]) is int and type(c["peak_mem_u_excess_bits"]) is float
    empty = {"capacity_bits": 1000.0, "peak_mem_u_excess_bits": None, "peak_n_seqs": None,
             "peak_multiple": None, "peak_over_capacity": None,
             "largest_n_mem_u_excess_bits": None}  # fmt: skip
    assert claim_memorization(_sizes([A])) == {
        **empty, "verdict": UNDECIDED, "why": "needs >= 2 converged seeds per size (one seed has "
        "no seed range, so no noise floor); has 1",
    }  # fmt: skip
    # N* = 300: only 400 above it
    far = _sizes([A, B], HALF).assign(crossing_n_seqs=300.0)
    assert claim_memorization(prepare(far)) == {
        **empty, "verdict": UNDECIDED,
        "why": "needs 2 sizes with converged trials on each side of N*",
    }  # fmt: skip
    # a budget trial's note follows the reason
    df = _sizes([A], verdicts=["saturated", "budget", "saturated", "saturated", "saturated"])
    assert claim_memorization(df)["why"].endswith("; budget trials left out: N=50 seed 0")


@pytest.mark.parametrize(
    "mem, parts",
    [
        # a dip of exactly the floor (5% of 1000) on the way up is no rise; 49 is noise
        ([200.0, 600.0, 550.0, 1000.0, 500.0], {"rise": False, "plateau": True, "fall": True}),
        ([200.0, 600.0, 551.0, 1000.0, 500.0], {"rise": True, "plateau": True, "fall": True}),
        # a rise of exactly the floor from the first size to N* is no rise
        ([950.0, 960.0, 1000.0, 900.0, 500.0], {"rise": False, "plateau": True, "fall": True}),
        ([949.0, 960.0, 1000.0, 900.0, 500.0], {"rise": True, "plateau": True, "fall": True}),
        # a fall of exactly the floor is no fall
        ([200.0, 600.0, 1000.0, 900.0, 950.0], {"rise": True, "plateau": True, "fall": False}),
        ([200.0, 600.0, 1000.0, 900.0, 949.0], {"rise": True, "plateau": True, "fall": True}),
        # the peak at exactly 1.5 x the capacity is still near it; a bit more is not
        ([200.0, 600.0, 1500.0, 900.0, 500.0], {"rise": True, "plateau": True, "fall": True}),
        ([200.0, 600.0, 1501.0, 900.0, 500.0], {"rise": True, "plateau": False, "fall": True}),
        ([200.0, 600.0, 666.0, 600.0, 500.0], {"rise": True, "plateau": False, "fall": True}),
    ],
)  # fmt: skip
def test_claim_memorization_at_the_edges_of_its_rules(mem, parts):
    c = claim_memorization(_sizes([mem, mem]))
    assert {k: c[k] for k in parts} == parts
    assert c["verdict"] == (HELD if all(parts.values()) else NOT_HELD)


def test_claim_double_descent_whole_output():
    c = claim_double_descent(_sizes([A, B], HALF))
    held_side = {"against_multiple": 0.5, "diff": pytest.approx(0.42), "paired": True,
                 "n_a": 2, "n_b": 2, "claim": "greater", "verdict": HELD, "why": ""}  # fmt: skip
    assert c == {
        "peak_multiples": [1.0],
        "heldout_excess_by_multiple": {
            "0.25": pytest.approx(0.22), "0.5": pytest.approx(0.6), "1": pytest.approx(1.02),
            "2": pytest.approx(0.9), "4": pytest.approx(0.46),
        },
        # each interior size's larger floor: 0.5 (0.04 the range at 0.25 and the halves
        # hypot(0.0212, 0.0283) = 0.035), 1 (its range), 2 (the range at 4)
        "noise_floor_by_multiple": {"0.5": pytest.approx(0.04), "1": pytest.approx(0.04),
                                    "2": pytest.approx(0.08)},  # fmt: skip
        "comparisons": [
            {**held_side, "ci95_low": pytest.approx(0.42 - 12.706204736174698 * 0.02),
             "ci95_high": pytest.approx(0.42 + 12.706204736174698 * 0.02)},
            {**held_side, "against_multiple": 2.0, "diff": pytest.approx(0.12),
             "ci95_low": pytest.approx(0.12 - 12.706204736174698 * 0.02),
             "ci95_high": pytest.approx(0.12 + 12.706204736174698 * 0.02),
             "verdict": UNDECIDED, "why": "the interval covers 0"},
        ],
        "verdict": UNDECIDED,
        "why": "a peak at 1 x N* clears the noise floor, but the paired seeds do not decide it: "
        "over 0.5 x N* +0.420 [+0.166, +0.674] (paired, 2 seeds): held; over 2 x N* +0.120 "
        "[-0.134, +0.374] (paired, 2 seeds): not decided (the interval covers 0)",
    }  # fmt: skip


def test_claim_double_descent_at_the_edges_of_its_rules():
    # a peak exactly the floor (the seeds' range 100 / 1000 at N*) above a neighbour: no peak
    a, b = [100.0, 200.0, 350.0, 200.0, 100.0], [100.0, 200.0, 250.0, 200.0, 100.0]
    c = claim_double_descent(_sizes([a, b]))
    assert (c["peak_multiples"], c["verdict"]) == ([], NOT_HELD)
    assert c["why"] == "no interior peak above the noise floor"
    b = [100.0, 200.0, 251.0, 200.0, 100.0]
    assert claim_double_descent(_sizes([a, b]))["peak_multiples"] == [1.0]
    # two peaks near N*: the first (0.5 x) is judged, against 0.25 and 1
    c = claim_double_descent(_sizes([[100.0, 500.0, 100.0, 500.0, 100.0]] * 2))
    assert c["peak_multiples"] == [0.5, 2.0] and c["verdict"] == HELD
    assert [x["against_multiple"] for x in c["comparisons"]] == [0.25, 1.0]
    assert c["why"] == (
        "a peak at 0.5 x N* above the noise floor: over 0.25 x N* +0.400 [+0.400, +0.400] "
        "(paired, 2 seeds): held; over 1 x N* +0.400 [+0.400, +0.400] (paired, 2 seeds): held"
    )
    # a step count missing on one trial: equal training is unknown
    df = _sizes([[100.0, 200.0, 500.0, 300.0, 200.0]] * 2)
    df.loc[3, "step"] = np.nan
    assert claim_double_descent(df)["why"] == "no step counts: equal training unknown"
    # a budget trial's different step count is no matter: it is left out
    df = _sizes([[100.0, 200.0, 500.0, 300.0, 200.0]] * 2)
    df.loc[df["n_seqs"] == 25, ["verdict", "step"]] = ["budget", 20000]
    c = claim_double_descent(prepare(df))
    assert c["verdict"] == HELD
    assert c["why"].endswith("; budget trials left out: N=25 seed 0, N=25 seed 1")
    # steps that differ: the range in the reason, and the note after it
    df.loc[df["n_seqs"] == 400, "step"] = 1234
    assert claim_double_descent(prepare(df))["why"] == (
        "trials trained 1,234-8,000 steps: training length changes with N, so a peak may be "
        "the stopping rule's (run with equal_steps); budget trials left out: N=25 seed 0, "
        "N=25 seed 1"
    )


def test_claim_double_descent_pairs_the_seeds_two_sizes_share():
    # seed 2 only at N*: paired on seeds 0 and 1
    df = _sizes([[100.0, 200.0, 500.0, 300.0, 200.0], [100.0, 200.0, 520.0, 300.0, 200.0]])
    extra = df[(df["n_seqs"] == 100) & (df["seed"] == 0)].assign(seed=2)
    c = claim_double_descent(prepare(pd.concat([df, extra], ignore_index=True)))
    assert [(x["n_a"], x["n_b"], x["paired"]) for x in c["comparisons"]] == [(2, 2, True)] * 2
    assert [x["diff"] for x in c["comparisons"]] == pytest.approx([0.31, 0.21])


def _records(trial_id, model_bits, step=200, floor=2.0):
    """Two training and two held-out sequences of one evaluation."""
    return pd.DataFrame({
        "trial_id": trial_id, "step": step, "split": ["train", "train", "heldout", "heldout"],
        "source_bits": [10.0, 12.0, 11.0, 13.0], "model_bits": model_bits, "floor_bits": floor,
    })  # fmt: skip


def test_recompute_edges():
    recs = _records("a", [4.0, 13.0, 12.0, 12.0])
    # no seq_len column: T = 64; a reported mem_U under 1 bit is compared in bits, not relative
    table = pd.DataFrame({"trial_id": ["a"], "mem_u_bits": [0.5]})
    out, worst = recompute(table, recs)
    # mem_U: the first training sequence saves 10 - 4 = 6 bits, the second none
    assert out.at[0, "mem_u_bits"] == 6.0 and worst == 5.5
    assert out.at[0, "memorizable_bits"] == 18.0  # (10 - 2) + (12 - 2)
    # held-out excess: ((12 - 11) + (12 - 13)) / 2 / 64 = 0
    assert out.at[0, "heldout_excess_bits_per_token"] == 0.0
    assert out.at[0, "mem_u_heldout_bits"] == 1.0  # 13 - 12 on the second held-out sequence
    for k in (
        "mem_u_heldout_ci95_low_bits",
        "mem_u_heldout_ci95_high_bits",
        "heldout_excess_ci95_half_bits_per_token",
        "mem_u_excess_ci95_half_bits",
    ):
        assert k in out and math.isfinite(out.at[0, k]), k  # fmt: skip
    # the per-token figure takes T = 64: ((13 - 11) + (12 - 13)) / 2 / 64
    out, _ = recompute(table, _records("a", [4.0, 13.0, 13.0, 12.0]))
    assert out.at[0, "heldout_excess_bits_per_token"] == 1 / 128
    # the floor comes from the records
    out, _ = recompute(table, _records("a", [4.0, 13.0, 12.0, 12.0], floor=7.0))
    assert out.at[0, "memorizable_bits"] == 8.0 and out.at[0, "memorized_share"] == 5 / 8
    # a trial the table lists twice, or not at all, is left as reported
    twice = pd.DataFrame({"trial_id": ["a", "a", "b"], "mem_u_bits": [0.5, 0.7, 9.0]})
    out, worst = recompute(twice, pd.concat([recs, _records("b", [4.0, 13.0, 12.0, 12.0])]))
    assert out["mem_u_bits"].tolist() == [0.5, 0.7, 6.0] and worst == pytest.approx(3 / 9)
    out, worst = recompute(table.assign(trial_id="z"), recs)
    assert out["mem_u_bits"].tolist() == [0.5] and worst == 0.0


def _mi(f1_by_cluster, n=(12, 25, 50, 100, 200, 400, 800)):
    """Converged trials (capacity 1000 bits, 60 bits a sequence) of one cluster per F1 list, in
    order of N; budget trials named in ``f1_by_cluster`` with None are left out."""
    rows = [
        {"model.name": f"m{c % 2}", "seed": c // 2, "n_params": 500, "n_seqs": x,
         "crossing_n_seqs": 1000 / 60, "capacity_bits": 1000.0, "data_bits": 60.0 * x,
         "mem_u_bits": 0.0, "mem_u_heldout_bits": 0.0, "heldout_excess_bits_per_token": 0.1,
         "auroc_loss": 0.7, "f1_loss": 0.7 if v is None else v,
         "verdict": "budget" if v is None else "saturated"}
        for c, f1 in enumerate(f1_by_cluster) for x, v in zip(n, f1, strict=True)
    ]  # fmt: skip
    return prepare(pd.DataFrame(rows))


def _sig(offsets):
    ratio = 1000.0 / (60.0 * np.array([12, 25, 50, 100, 200, 400, 800]))
    return [list(np.minimum(1.0, predict_sigmoid(ratio, 0.67, 2.0, -1.0) + o)) for o in offsets]


def test_claim_sigmoid_whole_output_when_held():
    f1 = _sig([0.0, 0.01, -0.01, 0.005])
    f1[3][0] = None  # a budget trial: left out, counted
    df = _mi(f1)
    c, fit = claim_sigmoid(df, "f1_loss")
    assert (c["metric"], c["n_points"], c["n_left_out_budget"], c["n_clusters"]) == (
        "f1_loss", 27, 1, 4,
    )  # fmt: skip
    assert (c["rival"], c["criterion"]) == (RIVAL, CRITERION)
    assert c["fit"] == fit.result.as_dict() and c["verdict"] == HELD
    conv = df[df["converged"]]
    for level in (0.75, 0.95):
        r, lo, hi = fit.crossing_ci95(level)
        below = conv.loc[conv["f1_loss"] < level, "capacity_ratio"]
        above = conv.loc[conv["f1_loss"] >= level, "capacity_ratio"]
        assert c["crossings"][str(level)] == {
            "capacity_ratio": r, "ci95": [lo, hi],
            "data_bracket": [float(below.max()), float(above.min())],
        }  # fmt: skip
    cv = c["cv_squared_error"]
    assert set(cv) == {"sigmoid", "line"} and cv["sigmoid"] < cv["line"]
    assert c["why"] == (
        f"beats the rival: {CRITERION} {cv['sigmoid']:.4g} (sigmoid) vs {cv['line']:.4g} "
        f"({RIVAL}); R2 {fit.result.r2:.3f}, k's interval above 0"
    )


def test_claim_sigmoid_counts_points_at_the_levels_as_reaching_them():
    # the lowest point exactly 0.75 and the highest exactly 0.95: both levels reached
    f1 = [[0.95, 0.93, 0.9, 0.85, 0.8, 0.77, 0.75]] * 4
    c, _ = claim_sigmoid(_mi(f1), "f1_loss")
    assert c["why"] != "points do not reach both below 0.75 and above 0.95"
    # one short of either: not decided
    for lo, hi in ((0.7501, 0.95), (0.75, 0.9499)):
        f1 = [[hi, 0.93, 0.9, 0.85, 0.8, 0.77, lo]] * 4
        c, _ = claim_sigmoid(_mi(f1), "f1_loss")
        assert (c["verdict"], c["why"]) == (
            UNDECIDED, "points do not reach both below 0.75 and above 0.95",
        )  # fmt: skip
    # a level no point reaches has a one-sided bracket
    f1 = [[0.9, 0.88, 0.85, 0.82, 0.8, 0.78, 0.76]] * 4
    c, _ = claim_sigmoid(_mi(f1), "f1_loss")
    assert c["crossings"]["0.95"]["data_bracket"] == [pytest.approx(1000 / 720), None]
    assert c["crossings"]["0.75"]["data_bracket"] == [None, pytest.approx(1000 / 48000)]


def test_claim_memorization_rise_clears_the_floor_of_both_its_ends():
    # the first size's seeds 300 apart: a rise of 150 from it to N* is inside that range
    c = claim_memorization(_sizes([[500.0, 600.0, 800.0, 700.0, 100.0],
                                   [800.0, 600.0, 800.0, 700.0, 100.0]]))  # fmt: skip
    assert (c["rise"], c["plateau"], c["fall"]) == (False, True, True)
    # N*'s seeds 400 apart: a rise of 300 to it is inside that range
    c = claim_memorization(_sizes([[700.0, 750.0, 800.0, 700.0, 100.0],
                                   [700.0, 750.0, 1200.0, 700.0, 100.0]]))  # fmt: skip
    assert (c["rise"], c["plateau"], c["fall"]) == (False, True, True)
    assert c["why"] == "no rise"


def test_claim_memorization_of_a_single_trial_is_not_decided():
    one = _sizes([A]).iloc[:1]
    assert claim_memorization(one) == {
        "capacity_bits": 1000.0, "peak_mem_u_excess_bits": None, "peak_n_seqs": None,
        "peak_multiple": None, "peak_over_capacity": None, "largest_n_mem_u_excess_bits": None,
        "verdict": UNDECIDED, "why": "needs >= 2 converged seeds per size (one seed has no seed "
        "range, so no noise floor); has 1",
    }  # fmt: skip


def test_claim_double_descent_with_exactly_three_sizes_and_a_left_edge():
    # exactly 3 sizes (0.5, 1 and 2 x N*) are enough to look for a peak
    three = _sizes([[100.0, 200.0, 500.0, 200.0, 100.0]] * 2)
    three = prepare(three[three["n_seqs"].isin([50, 100, 200])].reset_index(drop=True))
    c = claim_double_descent(three)
    assert (c["peak_multiples"], c["verdict"]) == ([1.0], HELD)
    two = prepare(three[three["n_seqs"] != 200].reset_index(drop=True))
    assert claim_double_descent(two)["why"] == "needs 3 sizes with converged trials"
    # N*'s seeds 0.25 apart (exact in binary): a peak exactly that over its left neighbour is
    # no peak, whatever it clears on the right
    a, b = [125.0, 250.0, 625.0, 125.0, 125.0], [125.0, 250.0, 375.0, 125.0, 125.0]
    c = claim_double_descent(_sizes([a, b]))
    assert (c["peak_multiples"], c["verdict"]) == ([], NOT_HELD)
    b[2] = 376.0
    assert claim_double_descent(_sizes([a, b]))["peak_multiples"] == [1.0]


def test_claim_double_descent_reads_only_the_converged_trials_steps():
    # a third seed's budget trial at N* (a size the claim reads) stopped at 20,000 steps
    df = _sizes([[100.0, 200.0, 500.0, 300.0, 200.0]] * 3)
    df.loc[(df["n_seqs"] == 100) & (df["seed"] == 2), ["verdict", "step"]] = ["budget", 20000]
    c = claim_double_descent(prepare(df))
    assert c["verdict"] == HELD
    assert c["why"].endswith("; budget trials left out: N=100 seed 2")


def test_claim_sigmoid_whole_output_with_too_few_points():
    f1 = [[0.7, 0.8, 0.9, None, None, None, None]]
    c, fit = claim_sigmoid(_mi(f1), "f1_loss")
    assert fit is None
    assert c == {
        "metric": "f1_loss", "n_points": 3, "n_left_out_budget": 4, "fit": None,
        "crossings": {}, "n_clusters": 1, "rival": RIVAL, "criterion": CRITERION,
        "cv_squared_error": None, "verdict": UNDECIDED, "why": "fewer than 4 converged trials",
    }  # fmt: skip


def test_by_n_names_two_sizes_with_one_converged_seed():
    df = _sizes([A, B], HALF)
    df.loc[df["n_seqs"].isin([25, 400]) & (df["seed"] == 1), "verdict"] = "budget"
    _, note = _by_n(prepare(df), "mem_u_excess_bits", "mem_u_excess_ci95_half_bits")
    assert note == ("; budget trials left out: N=25 seed 1, N=400 seed 1; sizes with fewer "
                    "than 2 converged seeds left out: N=25, N=400")  # fmt: skip


def test_claims_name_the_missing_half_width_column():
    df = _sizes([A, B], HALF)
    df.loc[df["n_seqs"] == 200, ["mem_u_excess_ci95_half_bits",
                                 "heldout_excess_ci95_half_bits_per_token"]] = np.nan  # fmt: skip
    tail = " missing: analyse the experiment, whose per-sequence records give it)"
    assert claim_memorization(df)["why"] == (
        "no bootstrap over sequences (mem_u_excess_ci95_half_bits" + tail
    )
    assert claim_double_descent(df)["why"] == (
        "no bootstrap over sequences (heldout_excess_ci95_half_bits_per_token" + tail
    )


def test_claim_double_descent_names_every_peak_far_from_n_star():
    # N* = 12.5: the sizes are 2 to 32 x N*, peaks at 4 and 16
    df = _sizes([[100.0, 500.0, 100.0, 500.0, 100.0]] * 2).assign(crossing_n_seqs=12.5)
    c = claim_double_descent(prepare(df))
    assert (c["peak_multiples"], c["verdict"]) == ([4.0, 16.0], NOT_HELD)
    assert c["why"] == "peak(s) at 4, 16 x N*, not near N*"


def test_claim_sigmoid_brackets_a_point_at_the_level_above_it():
    f1 = [[0.95, 0.93, 0.9, 0.85, 0.8, 0.75, 0.7]] * 4
    c, _ = claim_sigmoid(_mi(f1), "f1_loss")
    # 0.75 at N = 400 is at the level: the bracket is N = 800 below, N = 400 at or above
    assert c["crossings"]["0.75"]["data_bracket"] == [
        pytest.approx(1000 / 48000), pytest.approx(1000 / 24000),
    ]  # fmt: skip


def test_claim_sigmoid_cross_validates_by_cluster_and_says_why_a_poor_fit_did_not_hold():
    f1 = _sig([0.0, 0.01, -0.01, 0.005])
    df = _mi(f1)
    c, _ = claim_sigmoid(df, "f1_loss")
    conv = df[df["converged"]]
    clusters = (conv["model.name"].astype(str) + "/" + conv["seed"].astype(str)).to_numpy()
    cv = cross_validate(conv["capacity_ratio"], conv["f1_loss"], clusters)
    assert c["cv_squared_error"] == {"sigmoid": cv["sigmoid"], "line": cv["line"]}
    # no sigmoid shape at all (R2 0.29): did not hold, before any cross-validation
    c, fit = claim_sigmoid(_mi([[0.96, 0.7, 0.9, 0.72, 0.95, 0.74, 0.8]] * 4), "f1_loss")
    assert (c["verdict"], c["why"]) == (NOT_HELD, f"R2 {fit.result.r2:.3f} < 0.9")
    assert c["why"] == "R2 0.290 < 0.9" and c["cv_squared_error"] is None


def test_claim_double_descent_without_a_shared_seed_prints_nan():
    # the sizes at 0.5 x N* ran seeds 2 and 3, N* seeds 0 and 1: no pair, no difference
    df = _sizes([[100.0, 200.0, 500.0, 300.0, 200.0], [100.0, 220.0, 520.0, 300.0, 200.0]])
    df.loc[df["n_seqs"] == 50, "seed"] += 2
    c = claim_double_descent(prepare(df))
    assert c["verdict"] == UNDECIDED
    assert c["why"].startswith(
        "a peak at 1 x N* clears the noise floor, but the paired seeds do not decide it: over "
        "0.5 x N* +nan no interval (paired, 0 seeds): not decided"
    )
