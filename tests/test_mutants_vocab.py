"""The vocabulary analysis (analysis.capacity.vocab) function by function, on hand-built capacity
tables, at exact values: group labels, the per-group table, the tied/untied and dtype
comparisons, the per-V fit and the summary. Fast (no analysis run, no figure), so the mutation
run can use them (docs/testing.md)."""

import math

import numpy as np
import pandas as pd
import pytest

from analysis.capacity.vocab import (
    _true,
    axis_comparisons,
    fit_body_embedding,
    fit_per_vocab,
    group_table,
    morris_prediction_by_trend,
    varies,
    vocab_summary,
    with_group_labels,
)

T2 = 12.706204736174698  # t_{0.975} with 1 df
T3 = 4.302652729749464  # with 2 df


def test_group_labels_name_every_axis_off_its_default():
    df = pd.DataFrame({
        "model.name": ["m", "m", "m", "m"],
        "data.vocab_size": [2, 16, np.nan, 256],
        "model.tie_embeddings": [False, "True", np.nan, "false"],
        "optim.dtype": ["fp32", "bf16", None, "fp32"],
    })  # fmt: skip
    out = with_group_labels(df)
    assert list(out["model.name"]) == ["m", "m V=16 tied bf16", "m", "m V=256"]
    assert list(out["model.base"]) == ["m", "m", "m", "m"]
    assert list(out["data.vocab_size"]) == [2, 16, 2, 256]
    assert list(out["optim.dtype"]) == ["fp32", "bf16", "fp32", "fp32"]
    assert list(out["model.tie_embeddings"]) == [False, "True", False, "false"]
    assert list(df["model.name"]) == ["m"] * 4  # the input is left alone


def test_group_labels_of_a_store_without_the_axes_and_of_a_table_this_wrote():
    out = with_group_labels(pd.DataFrame({"model.name": ["m", "n"]}))
    assert list(out["model.name"]) == ["m", "n"]
    assert list(out["data.vocab_size"]) == [2, 2]
    assert list(out["model.tie_embeddings"]) == [False, False]
    assert list(out["optim.dtype"]) == ["fp32", "fp32"]
    # re-read: the label comes from model.base (the preset), not from the label already there
    again = with_group_labels(out.assign(**{"data.vocab_size": [16, 2]}))
    assert list(again["model.name"]) == ["m V=16", "n"]
    written = pd.DataFrame({"model.name": ["m V=16", "x"], "model.base": ["m", np.nan],
                            "data.vocab_size": [16, 2]})  # fmt: skip
    assert list(with_group_labels(written)["model.name"]) == ["m V=16", "x"]
    assert list(with_group_labels(written)["model.base"]) == ["m", "x"]
    empty = with_group_labels(pd.DataFrame({"model.name": pd.Series([], dtype=str)}))
    assert len(empty) == 0 and "model.name" in empty


def test_a_bool_as_stored():
    for yes in (True, "True", "true", " TRUE ", 1, "1", 1.0, "1.0"):
        assert _true(yes), yes
    for no in (False, "False", "false", 0, "0", 0.0, "", "yes", None, np.nan):
        assert not _true(no), no


def test_varies_in_any_axis_present():
    one = pd.DataFrame({"data.vocab_size": [2, 2], "model.tie_embeddings": [True, True]})
    assert not varies(one)
    assert varies(one.assign(**{"data.vocab_size": [2, 16]}))
    assert varies(one.assign(**{"model.tie_embeddings": [True, False]}))
    assert varies(one.assign(**{"optim.dtype": ["fp32", "bf16"]}))
    assert not varies(one.assign(**{"optim.dtype": ["fp32", "fp32"]}))
    assert not varies(pd.DataFrame({"other": [1, 2]}))
    assert not varies(pd.DataFrame({"data.vocab_size": [2, "2"]}))  # as a CSV gives it back


def _cap(rows):
    """A capacity table from (group, seed, capacity_bits, converged, verdict) rows."""
    groups = {  # name: (base, V, tied, dtype, n_params, embedding, position, body)
        "m V=16": ("m", 16, False, "fp32", 50, 10, 4, 36),
        "m V=16 tied bf16": ("m", 16, True, "bf16", 40, 5, 4, 31),
        "m V=4 tied": ("m", 4, True, "fp32", 45, 8, 4, 33),
    }
    out = []
    for name, seed, bits, conv, verdict in rows:
        base, v, tie, dtype, n, emb, pos, body = groups[name]
        out.append({
            "model.name": name, "model.base": base, "data.vocab_size": v,
            "model.tie_embeddings": tie, "optim.dtype": dtype, "seed": seed, "n_params": n,
            "n_params_embedding": emb, "n_params_position": pos, "n_params_body": body,
            "capacity_bits": bits, "plateau_reached": conv, "status": verdict,
            "verdict_at_capacity": verdict,
        })  # fmt: skip
    return pd.DataFrame(out)


def test_group_table_at_exact_values():
    cap = _cap([
        ("m V=16 tied bf16", 1, 300.0, False, "budget"),
        ("m V=16 tied bf16", 0, 200.0, True, "saturated"),
        ("m V=16", 2, 120.0, True, "saturated"),
        ("m V=16", 0, 100.0, True, "saturated"),
        ("m V=16", 1, 110.0, True, "memorized"),
        ("m V=4 tied", 0, 90.0, True, "saturated"),
    ])  # fmt: skip
    t = group_table(cap)
    # sorted by dtype, tied, V: bf16 tied, fp32 untied, fp32 tied
    assert list(t["group"]) == ["m V=16 tied bf16", "m V=16", "m V=4 tied"]
    full = t.iloc[1]
    assert full["model.base"] == "m" and full["vocab_size"] == 16 and not full["tied"]
    assert full["dtype"] == "fp32" and full["n_params"] == 50
    assert (full["n_params_embedding"], full["n_params_position"], full["n_params_body"]) == (
        10, 4, 36,
    )  # fmt: skip
    assert full["n_seeds"] == 3 and full["n_converged"] == 3 and full["bound"] == ""
    # mean 110, sd 10, t with 2 df over sqrt(3)
    half = T3 * 10 / math.sqrt(3)
    assert full["capacity_bits"] == pytest.approx(110.0)
    assert full["capacity_ci95"] == pytest.approx([110 - half, 110 + half])
    assert full["bpp"] == pytest.approx(2.2)
    assert full["bpp_ci95"] == pytest.approx([(110 - half) / 50, (110 + half) / 50])
    assert full["bpp_non_embedding"] == pytest.approx(110 / 40)
    assert full["bpp_non_embedding_ci95"] == pytest.approx([(110 - half) / 40, (110 + half) / 40])
    assert full["statuses"] == "seed 2: saturated; seed 0: saturated; seed 1: memorized"
    assert full["verdicts"] == "saturated,memorized,saturated"  # in seed order
    # one seed a lower bound: the mean over both seeds, itself a bound, no interval
    bound = t.iloc[0]
    assert bound["tied"] and bound["dtype"] == "bf16" and bound["n_params"] == 40
    assert bound["n_seeds"] == 2 and bound["n_converged"] == 1 and bound["bound"] == ">="
    assert bound["capacity_bits"] == 250.0 and bound["bpp"] == 250 / 40
    assert bound["bpp_non_embedding"] == pytest.approx(250 / 35)
    for k in ("capacity_ci95", "bpp_ci95", "bpp_non_embedding_ci95"):
        assert all(math.isnan(x) for x in bound[k]), k
    assert bound["verdicts"] == "saturated,budget"
    one = t.iloc[2]  # a single converged seed: its value, no interval
    assert one["capacity_bits"] == 90.0 and one["bound"] == "" and one["n_converged"] == 1
    assert all(math.isnan(x) for x in one["capacity_ci95"])


def _pair_rows(axis_rows):
    """Rows for axis_comparisons: (name, base, V, tied, dtype, seed, n_params, n_seqs, bpp,
    converged)."""
    keys = ["model.name", "model.base", "data.vocab_size", "model.tie_embeddings", "optim.dtype",
            "seed", "n_params", "n_seqs_at_capacity", "bpp", "plateau_reached"]  # fmt: skip
    return pd.DataFrame([dict(zip(keys, r, strict=True)) for r in axis_rows])


def test_tied_against_untied_is_unpaired_and_dtype_against_fp32_paired_by_seed():
    cap = _pair_rows([
        # untied fp32 at V=16, seeds 0-2
        ("u", "m", 16, False, "fp32", 0, 100, 60, 2.0, True),
        ("u", "m", 16, False, "fp32", 1, 100, 60, 2.1, True),
        ("u", "m", 16, False, "fp32", 2, 100, 60, 2.2, True),
        # tied fp32: other shapes, so other inits: unpaired
        ("t", "m", 16, True, "fp32", 0, 80, 50, 3.0, True),
        ("t", "m", 16, True, "fp32", 1, 80, 50, 3.2, True),
        ("t", "m", 16, True, "fp32", 2, 80, 50, 3.4, True),
        # untied bf16: the fp32 init rounded, the same seeds: paired (listed out of order)
        ("ub", "m", 16, False, "bf16", 2, 100, 60, 1.6, True),
        ("ub", "m", 16, False, "bf16", 0, 100, 60, 1.5, True),
        ("ub", "m", 16, False, "bf16", 1, 100, 60, 1.8, True),
    ])  # fmt: skip
    tie, bf16 = axis_comparisons(cap)
    assert tie["what"] == "tied - untied" and tie["group"] == "t" and tie["reference"] == "u"
    assert tie["model.base"] == "m" and tie["vocab_size"] == 16
    assert not tie["paired"] and (tie["n_a"], tie["n_b"]) == (3, 3)
    assert tie["diff"] == pytest.approx(1.1)
    assert tie["verdict"] == "held" and tie["text"].startswith("+1.100 [")
    assert bf16["what"] == "bf16 - fp32" and bf16["group"] == "ub" and bf16["reference"] == "u"
    assert bf16["paired"] and (bf16["n_a"], bf16["n_b"]) == (3, 3)
    # paired by seed: -0.5, -0.3, -0.6 (in the rows' order they would be -0.4, -0.6, -0.4)
    d = np.array([-0.5, -0.3, -0.6])
    half = T3 * d.std(ddof=1) / math.sqrt(3)
    assert bf16["diff"] == pytest.approx(d.mean())
    assert [bf16["ci95_low"], bf16["ci95_high"]] == pytest.approx(
        [d.mean() - half, d.mean() + half]
    )


def test_seeds_pair_only_on_the_same_seed_n_and_parameter_count():
    rows = [
        ("f", "m", 4, True, "fp32", 0, 100, 60, 2.0, True),
        ("f", "m", 4, True, "fp32", 1, 100, 60, 2.1, True),
        ("f", "m", 4, True, "fp32", 2, 100, 60, 2.3, True),
        ("b", "m", 4, True, "bf16", 0, 100, 60, 1.5, True),
        ("b", "m", 4, True, "bf16", 1, 100, 60, 1.7, True),
        ("b", "m", 4, True, "bf16", 2, 100, 60, 1.6, True),
    ]
    (c,) = axis_comparisons(_pair_rows(rows))
    assert c["paired"] and c["what"] == "bf16 - fp32" and c["vocab_size"] == 4
    other_n = [r if r[5] != 1 or r[0] != "b" else (*r[:7], 61, *r[8:]) for r in rows]
    (c,) = axis_comparisons(_pair_rows(other_n))
    assert not c["paired"]
    other_p = [r if r[5] != 2 or r[0] != "b" else (*r[:6], 99, *r[7:]) for r in rows]
    (c,) = axis_comparisons(_pair_rows(other_p))
    assert not c["paired"]
    fewer = [r for r in rows if not (r[0] == "b" and r[5] == 2)]  # seeds 0, 1 against 0-2
    (c,) = axis_comparisons(_pair_rows(fewer))
    assert not c["paired"] and (c["n_a"], c["n_b"]) == (2, 3)
    other_seeds = [(*r[:5], r[5] + 10 * (r[0] == "b"), *r[6:]) for r in rows]
    (c,) = axis_comparisons(_pair_rows(other_seeds))
    assert not c["paired"]
    # a budget seed is a lower bound: the comparison names it and decides nothing on it
    bounded = [(*r[:9], not (r[0] == "b" and r[5] == 0)) for r in rows]
    (c,) = axis_comparisons(_pair_rows(bounded))
    assert c["paired"] and c["verdict"] == "not decided" and "lower-bound" in c["why"]
    bounded = [(*r[:9], not (r[0] == "f" and r[5] == 0)) for r in rows]
    (c,) = axis_comparisons(_pair_rows(bounded))
    assert c["verdict"] == "not decided" and "lower-bound" in c["why"]


def test_a_group_without_its_reference_is_compared_with_nothing():
    rows = [
        ("t", "m", 4, True, "fp32", 0, 100, 60, 2.0, True),  # tied, no untied twin at V=4
        ("b", "m", 16, False, "bf16", 0, 100, 60, 1.5, True),  # bf16, no fp32 at V=16
        ("u", "m", 4, False, "fp32", 0, 90, 60, 2.5, True),  # the untied at V=4, other base
    ]
    rows[2] = ("u", "n", *rows[2][2:])
    assert axis_comparisons(_pair_rows(rows)) == []
    # one reference, two others: each compared with it
    rows = [
        ("f", "m", 4, False, "fp32", 0, 100, 60, 2.0, True),
        ("b", "m", 4, False, "bf16", 0, 100, 60, 1.5, True),
        ("h", "m", 4, False, "fp16", 0, 100, 60, 1.8, True),
    ]
    out = axis_comparisons(_pair_rows(rows))
    assert [(c["what"], c["group"]) for c in out] == [("bf16 - fp32", "b"), ("fp16 - fp32", "h")]


def _twins(a, b, vocab=(4, 16, 64), seeds=(0, 1), noise=None):
    """Tied and untied fp32 twins per V: capacity = a x non-embedding + b x embedding."""
    rows = []
    for v in vocab:
        for tie in (False, True):
            emb = v * 8 * (1 if tie else 2)
            for s in seeds:
                bits = a * 100 + b * emb + (noise[(v, tie, s)] if noise else 0.0)
                rows.append({
                    "model.name": f"m V={v}{' tied' if tie else ''}", "model.base": "m",
                    "data.vocab_size": v, "model.tie_embeddings": tie, "optim.dtype": "fp32",
                    "seed": s, "n_params": 100 + emb, "n_params_embedding": emb,
                    "n_params_position": 20, "n_params_body": 80, "capacity_bits": bits,
                    "plateau_reached": True, "status": "saturated",
                    "verdict_at_capacity": "saturated", "n_seqs_at_capacity": 60,
                    "bpp": bits / (100 + emb),
                })  # fmt: skip
    return pd.DataFrame(rows)


def test_each_vocabularys_own_fit_at_exact_values():
    # V=4: noise +-1 bit on the tied twins, so a and b have intervals (2 df)
    noise = {(v, tie, s): (1.0 if s else -1.0) * (tie and v == 4) for v in (4, 16, 64)
             for tie in (False, True) for s in (0, 1)}  # fmt: skip
    cap = _twins(2.0, 0.5, noise=noise)
    per_v = fit_per_vocab(cap)
    assert list(per_v["vocab_size"]) == [4, 16, 64]
    r = per_v.iloc[0]
    assert r["n_points"] == 4 and r["df"] == 2
    # the tied twin's mean is exact, so the fit is too: X = [[100, 64] x 2, [100, 32] x 2]
    assert r["bits_per_body_param"] == pytest.approx(2.0)
    assert r["bits_per_embedding_param"] == pytest.approx(0.5)
    # residuals +-1 on the tied pair only: s^2 = 2 / 2 = 1; (X'X)^-1 by hand
    xtx = np.array([[4 * 100**2, 2 * 100 * (64 + 32)], [2 * 100 * (64 + 32), 2 * (64**2 + 32**2)]])
    se = np.sqrt(np.diag(np.linalg.inv(xtx)))
    assert r["body_se"] == pytest.approx(se[0]) and r["embedding_se"] == pytest.approx(se[1])
    assert r["body_ci95"] == pytest.approx([2.0 - T3 * se[0], 2.0 + T3 * se[0]])
    assert r["embedding_ci95"] == pytest.approx([0.5 - T3 * se[1], 0.5 + T3 * se[1]])
    assert per_v.iloc[1]["body_se"] == pytest.approx(0.0, abs=1e-9)  # exact twins
    # a V needs both twins converged and 3 points; bf16 and lower bounds stay out
    cap.loc[(cap["data.vocab_size"] == 16) & cap["model.tie_embeddings"], "plateau_reached"] = False
    cap.loc[(cap["data.vocab_size"] == 64) & (cap["seed"] == 1), "plateau_reached"] = False
    cap.loc[(cap["data.vocab_size"] == 4) & (cap["seed"] == 1), "optim.dtype"] = "bf16"
    assert fit_per_vocab(cap).empty
    cap.loc[(cap["data.vocab_size"] == 64) & (cap["seed"] == 1) & cap["model.tie_embeddings"],
            "plateau_reached"] = True  # fmt: skip
    (row,) = fit_per_vocab(cap).to_dict(orient="records")
    assert row["vocab_size"] == 64 and row["n_points"] == 3 and row["df"] == 1


def test_body_embedding_fit_needs_three_converged_fp32_groups():
    cap = _twins(2.0, 0.5, vocab=(4, 16))
    fit, why = fit_body_embedding(cap)
    assert why == "" and fit.names == ("bits_per_body_param", "bits_per_embedding_param")
    assert fit.params == pytest.approx([2.0, 0.5]) and fit.n_clusters == 4
    assert fit.interval.startswith("cluster-robust by group (4 clusters")
    three = cap[cap["model.name"] != "m V=16 tied"]
    fit, why = fit_body_embedding(three)
    assert why == "" and fit.n_clusters == 3 and fit.params == pytest.approx([2.0, 0.5])
    two = cap[cap["data.vocab_size"] == 4]
    fit, why = fit_body_embedding(two)
    assert fit is None and why == (
        "no body-vs-embedding fit: 2 fp32 group(s) have a converged capacity; it needs 3 with "
        "different parameter mixes (2 terms, and intervals clustered by group need more groups "
        "than terms)"
    )
    cap.loc[cap["data.vocab_size"] == 16, "optim.dtype"] = "bf16"
    assert fit_body_embedding(cap)[0] is None
    assert fit_body_embedding(cap.iloc[:0])[0] is None
    # three groups but one mix of parameters (every group the same split): no fit
    same = _twins(2.0, 0.5, vocab=(4,), seeds=(0,))
    same = pd.concat([same.assign(**{"model.name": f"g{i}"}) for i in range(3)])
    same["n_params_embedding"] = 32
    fit, why = fit_body_embedding(same)
    assert fit is None and "3 fp32 group(s)" in why


def test_vocab_summary_gathers_the_table_the_fits_and_the_comparisons():
    cap = _twins(2.0, 0.5, vocab=(4, 16, 64))
    v = vocab_summary(cap)
    assert [g["group"] for g in v["groups"]] == [
        "m V=4", "m V=16", "m V=64", "m V=4 tied", "m V=16 tied", "m V=64 tied",
    ]  # fmt: skip
    f = v["fit"]
    assert v["no_fit_reason"] is None
    assert f["bits_per_body_param"] == pytest.approx(2.0)
    assert f["bits_per_embedding_param"] == pytest.approx(0.5)
    assert f["bits_per_body_param_ci95"] == pytest.approx([2.0, 2.0], abs=1e-6)
    assert f["bits_per_embedding_param_ci95"] == pytest.approx([0.5, 0.5], abs=1e-6)
    assert f["interval"].startswith("cluster-robust by group (6 clusters")
    assert f["n_points"] == 12 and f["r2"] == pytest.approx(1.0)
    assert [p["model"] for p in v["morris_prediction"]] == ["1x32", "2x32", "4x32", "8x32"]
    assert v["morris_prediction"][0]["bpp_predicted"] == pytest.approx(
        (2.0 * 14_816 + 0.5 * 65_536) / 80_352
    )
    assert [r["vocab_size"] for r in v["per_vocab"]] == [4, 16, 64]
    # exact twins: zero errors, finite, so the trend is read (flat: a and b at V = 2048)
    trend = v["morris_prediction_by_trend"]
    assert trend == [] or trend[0]["bits_per_body_param"] == pytest.approx(2.0)
    assert [(c["what"], c["vocab_size"]) for c in v["comparisons"]] == [
        ("tied - untied", 4), ("tied - untied", 16), ("tied - untied", 64),
    ]  # fmt: skip
    none = vocab_summary(cap[cap["data.vocab_size"] == 4])
    assert none["fit"] is None and "morris_prediction" not in none
    assert none["no_fit_reason"].startswith("no body-vs-embedding fit: 2 fp32 group(s)")
    assert [r["vocab_size"] for r in none["per_vocab"]] == [4]
    assert none["morris_prediction_by_trend"] == []  # one V: no trend


def test_comparisons_come_in_the_tables_order():
    rows = [
        (name, "m", v, tie, "fp32", s, 100 + 10 * tie, 60, 2.0 + tie + 0.1 * s, True)
        for v in (64, 4)
        for tie, name in ((False, f"u{v}"), (True, f"t{v}"))
        for s in (0, 1, 2)
    ]
    out = axis_comparisons(_pair_rows(rows))
    assert [(c["vocab_size"], c["group"], c["reference"]) for c in out] == [
        (64, "t64", "u64"),
        (4, "t4", "u4"),
    ]


def test_group_table_means_the_unchanged_entries_and_reads_a_table_without_verdicts():
    cap = _cap([
        ("m V=16", 0, 100.0, True, "saturated"),
        ("m V=16", 1, 110.0, True, "saturated"),
        ("m V=4 tied", 0, 90.0, True, "saturated"),
    ])  # fmt: skip
    cap["frac_unchanged"] = [0.25, 0.5, 0.0]
    t = group_table(cap.drop(columns="verdict_at_capacity"))
    assert t["frac_unchanged"].tolist() == [0.375, 0.0]
    assert t["verdicts"].tolist() == [",", ""]  # no verdict per seed: empty, in seed order
    assert math.isnan(group_table(cap.drop(columns="frac_unchanged")).iloc[0]["frac_unchanged"])


def test_pure_bf16_is_compared_with_fp32_and_with_mixed_and_mixed_with_fp32():
    rows = [
        (name, "m", 4, False, dtype, s, 100, 60, bpp + 0.1 * s, True)
        for name, dtype, bpp in (("f", "fp32", 2.0), ("x", "mixed", 2.2), ("b", "bf16", 1.5))
        for s in (0, 1, 2)
    ]
    out = axis_comparisons(_pair_rows(rows))
    assert [(c["what"], c["group"], c["reference"]) for c in out] == [
        ("mixed - fp32", "x", "f"), ("bf16 - fp32", "b", "f"), ("bf16 - mixed", "b", "x"),
    ]  # fmt: skip
    assert [c["diff"] for c in out] == pytest.approx([0.2, -0.5, -0.7])
    assert all(c["paired"] for c in out)


def _per_v(vocab, body, body_se, emb, emb_se):
    return pd.DataFrame({"vocab_size": vocab, "bits_per_body_param": body, "body_se": body_se,
                         "bits_per_embedding_param": emb, "embedding_se": emb_se})  # fmt: skip


def _wls_at_2048(vocab, y, se):
    """a + b log2 V read at V = 2048 by weighted least squares, and its variance (by hand)."""
    x = np.log2(np.asarray(vocab, dtype=float))
    root = np.sqrt(1 / np.asarray(se) ** 2 / np.sum(1 / np.asarray(se) ** 2))
    X = np.column_stack([x, np.ones_like(x)]) * root[:, None]
    ys = np.asarray(y) * root
    beta = np.linalg.solve(X.T @ X, X.T @ ys)
    s2 = float(((ys - X @ beta) ** 2).sum()) / (len(x) - 2)
    at = np.array([11.0, 1.0])
    return float(at @ beta), float(at @ (s2 * np.linalg.inv(X.T @ X)) @ at)


def test_morris_prediction_by_trend_at_exact_values_from_three_vocabularies():
    vocab, body, emb = [4, 16, 64], [2.0, 2.5, 2.75], [0.5, 0.25, 0.5]
    body_se, emb_se = [0.1, 0.2, 0.4], [0.3, 0.3, 0.6]
    out = morris_prediction_by_trend(_per_v(vocab, body, body_se, emb, emb_se))
    assert [p["model"] for p in out] == ["1x32", "2x32", "4x32", "8x32"]
    a, var_a = _wls_at_2048(vocab, body, body_se)
    b, var_b = _wls_at_2048(vocab, emb, emb_se)
    p = out[0]
    assert p["bits_per_body_param"] == pytest.approx(a)
    assert p["bits_per_embedding_param"] == pytest.approx(b)
    total, nonemb, embp = p["n_params"], 14_816, 65_536
    assert total == nonemb + embp
    half = math.sqrt((T2 * nonemb) ** 2 * var_a + (T2 * embp) ** 2 * var_b)
    cap = a * nonemb + b * embp
    assert p["bpp_predicted"] == pytest.approx(cap / total)
    assert p["ci95"] == pytest.approx([(cap - half) / total, (cap + half) / total])
    # two V's with finite errors: no trend
    assert morris_prediction_by_trend(
        _per_v(vocab, body, [0.1, np.nan, 0.4], emb, emb_se)
    ) == []  # fmt: skip
    assert morris_prediction_by_trend(_per_v(vocab[:2], body[:2], body_se[:2], emb[:2],
                                             emb_se[:2])) == []  # fmt: skip


def test_vocab_summary_carries_the_bodies_section_only_with_two_bodies():
    cap = _twins(2.0, 0.5, vocab=(4, 16, 64))
    assert "bodies" not in vocab_summary(cap)
    # a second base "w" with a wider body (same embedding and position counts) at every V
    wide = cap.assign(**{"model.base": "w", "n_params_body": 120, "n_params": cap["n_params"] + 40,
                         "capacity_bits": cap["capacity_bits"] + 80.0})  # fmt: skip
    wide["model.name"] = "w" + wide["model.name"].str[1:]
    v = vocab_summary(pd.concat([cap, wide], ignore_index=True))
    bodies = v["bodies"]
    assert len(bodies["pairs"]) == 12  # 3 V x tied/untied x 2 seeds
    assert [p["a"] for p in bodies["pairs"]] == pytest.approx([80.0 / 40] * 12)


def test_group_table_has_a_plain_index_and_no_index_column():
    cap = _twins(2.0, 0.5, vocab=(16, 4))
    t = group_table(cap)
    assert "index" not in t.columns and list(t.index) == list(range(4))


def test_group_table_keeps_the_stores_order_among_equal_axes():
    cap = _twins(2.0, 0.5, vocab=(4, 16), seeds=(0,))
    wide = cap.assign(**{"model.base": "w", "model.name": "w" + cap["model.name"].str[1:]})
    t = group_table(pd.concat([wide, cap], ignore_index=True))
    assert list(t["group"]) == [
        "w V=4", "m V=4", "w V=16", "m V=16", "w V=4 tied", "m V=4 tied", "w V=16 tied",
        "m V=16 tied",
    ]  # fmt: skip
