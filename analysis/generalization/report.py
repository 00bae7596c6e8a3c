"""Generalization analysis (Morris et al. 2025, second half): three curves and three verdicts.

Reads a generalization experiment (every trial's ``generalization_sequences.parquet``, found
through Tune's experiment store) or a plain per-trial table (the ``table.csv`` this writes),
never trains:

    python -m analysis.generalization results/generalization_full_20261202-123500
    python -m analysis.generalization table.csv --out figures/

From an experiment, every per-trial figure is recomputed from the stored per-sequence code
lengths (``memtune.experiments.generalization.metrics``). Only trials that ended normally count;
every trial carries its loop's verdict (memorized / saturated / budget, the capacity protocol's
words): "converged" below means memorized or saturated, and a budget trial's figures are marked
``*`` in tables and drawn hollow in figures; no claim rests on one. Every claim is decided on the
converged trials alone, names the budget trials it left out, and is "not decided" when the
converged trials do not cover what it needs (2 sizes on each side of N*; 3 sizes; 4 points).

The claims (1 and 2 per model, 3 over all models; held / did not hold / not decided). Claims 1
and 2 compare sizes, so they need a noise floor: each is decided only at sizes with >= 2
converged seeds (``analysis.common.compare.MIN_PAIRS``; one seed prints "not decided"), and a
difference between two sizes counts only above the larger seed range of the two and the 95%
bootstrap half-width over sequences of the difference (``metrics.bootstrap_intervals``, made
from the per-sequence records: a plain table without those columns decides neither claim).

1. **mem_U rises, plateaus near capacity, then falls**: the statistic is mem_U minus the same
   statistic on held-out sequences (``mem_u_excess_bits``; on unseen data mem_U measures only
   chance, its floor; the correction is made on matched sets, N held-out for N training, and
   carries its own bootstrap interval). Rise: it grows with N up to the crossing N* (the side
   of N* is the exact ratio N / N*'s; within AT_BAND of 1 a size is "at N*" and ends the rise).
   Plateau: its maximum over N is within a factor PLATEAU_BAND of the capacity estimate. Fall:
   at the largest N it is below that maximum by more than the floor (at least MARGIN_SHARE of
   the capacity).
2. **Double descent of held-out loss begins at the crossing**: the held-out excess over the
   source (bits/token) has an interior peak over N (above both neighbours by more than the
   floor) within a factor PEAK_BAND of N*, and its seeds beat each neighbour's in the paired
   comparison rule (``compare``, claim "greater"). Not decided unless every trial trained the
   same steps (``GenConfig.equal_steps``): a peak where training length jumps may be the
   stopping rule's.
3. **MI follows a sigmoid in capacity / dataset size**: the loss attack's best F1 against
   r = capacity / (information of the training set), fitted by ``fit.fit_sigmoid`` on converged
   trials (ceiling points censored; intervals from a bootstrap over (seed, model) clusters,
   at least MIN_CLUSTERS of them): with points below 0.75 and above 0.95, it did not hold when
   R2 < MIN_R2 or when its rival (``fit.RIVAL``) predicts left-out clusters at least as well
   (``fit.CRITERION``), is not decided when the slope's interval reaches 0, held otherwise:
   the verdict names the rival and the criterion. Each crossing of 0.75 and 0.95 is reported
   from the fit (with its interval) and as the bracket the data alone give (the nearest points
   on either side).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.common.cli import analysis_cli
from analysis.common.compare import MIN_PAIRS, compare
from analysis.common.jsonfile import write_json
from analysis.common.load import (
    check_one_experiment,
    completeness,
    finished_trials,
    incomplete_note,
    load_table,
    read_store,
    require_columns,
    with_incomplete,
)
from analysis.common.store import Store
from analysis.generalization.fit import (
    CRITERION,
    LEVELS,
    RIVAL,
    SigmoidFit,
    cross_validate,
    fit_sigmoid,
)
from memtune.core.cli import UsageError
from memtune.experiments.generalization.config import RECORDS_FILE, GenConfig
from memtune.experiments.generalization.metrics import (
    bootstrap_intervals,
    generalization_summary,
)

HELD, NOT_HELD, UNDECIDED = "held", "did not hold", "not decided"
CONVERGED = ("memorized", "saturated")  # verdicts whose figures are converged measurements
VARIED = ["data.n_seqs", "capacity_multiple", "seed"]  # what varies within one model's curve
PLATEAU_BAND = 1.5  # claim 1: the most mem_U within [1/1.5, 1.5] x the capacity estimate
MARGIN_SHARE = 0.05  # claim 1: differences under 5% of the capacity are noise
PEAK_BAND = 2.0  # claim 2: a peak within a factor 2 of the crossing N*
# a size whose exact ratio N / N* is within 2% of 1 is "at N*": neither clearly below nor
# above it. N is rounded from multiple x N* (cpu-xxs: round(49.78) = 50, ratio 1.0044;
# cpu-xs: 94 / 94.13 = 0.9986), so without the band the side of the same nominal size flips
# with the rounding
AT_BAND = 0.02
MIN_R2 = 0.9  # claim 3: the sigmoid explains the points
# claim 3: (seed, model) clusters for a cluster bootstrap. 4 clusters give 35 distinct
# resamples, 3 give 10, 2 give 3: quantiles of so few refits are no interval
MIN_CLUSTERS = 4
REQUIRED = [
    "model.name", "seed", "n_params", "n_seqs", "capacity_bits", "crossing_n_seqs",
    "data_bits", "mem_u_bits", "mem_u_heldout_bits", "heldout_excess_bits_per_token",
    "auroc_loss", "f1_loss", "verdict",
]  # fmt: skip
SHOWN = [
    "model.name", "seed", "n_seqs", "multiple", "capacity_ratio", "verdict", "step",
    "mem_u_bits", "mem_u_heldout_bits", "memorized_share", "heldout_excess_bits_per_token",
    "auroc_loss", "f1_loss", "f1_median_loss", "auroc_ref", "f1_ref",
]  # fmt: skip


def load_records(path: str) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """(per-trial table, per-sequence records or None for a plain table)."""
    p = Store.open(path)
    if p.suffix in {".csv", ".parquet", ".pq"}:
        return load_table(path), None
    store = read_store(path)
    frames, missing = [], []
    for t in store.trials:
        f = p.at(t.path).child(RECORDS_FILE)
        if not f.is_file():
            missing.append(p.at(t.path).name)
            continue
        frames.append(f.read_table().assign(trial_id=t.trial_id))
    if missing:
        print(
            f"[memtune] {len(missing)} trial(s) have no {RECORDS_FILE} (never finished): "
            + ", ".join(missing),
            file=sys.stderr,
        )
    records = pd.concat(frames, ignore_index=True) if frames else None
    return store.table, records


def recompute(table: pd.DataFrame, records: pd.DataFrame | None) -> tuple[pd.DataFrame, float]:
    """The table with every per-trial figure recomputed from the per-sequence code lengths.

    Returns:
        (table, the largest relative difference between a recomputed and a reported mem_U:
        0 when the stored records are the ones the loop reported from; nan without records).
    """
    if records is None or records.empty:
        return table, math.nan
    table = table.copy()
    worst = 0.0
    for tid, d in records.groupby("trial_id", sort=False):
        rows = table.index[table["trial_id"] == tid]
        if len(rows) != 1:
            continue
        last = d[d["step"] == d["step"].max()]
        tr, he = last[last["split"] == "train"], last[last["split"] == "heldout"]
        i = rows[0]
        T = int(table.at[i, "data.seq_len"]) if "data.seq_len" in table else 64
        s = generalization_summary(
            tr["source_bits"].to_numpy(), tr["model_bits"].to_numpy(),
            he["source_bits"].to_numpy(), he["model_bits"].to_numpy(), T,
            tr["floor_bits"].to_numpy(),
        )  # fmt: skip
        s.update(bootstrap_intervals(
            tr["source_bits"].to_numpy(), tr["model_bits"].to_numpy(),
            he["source_bits"].to_numpy(), he["model_bits"].to_numpy(), T,
        ))  # fmt: skip
        reported = float(table.at[i, "mem_u_bits"])
        worst = max(worst, abs(s["mem_u_bits"] - reported) / max(abs(reported), 1.0))
        for k, v in s.items():
            table.loc[i, k] = v
    return table, worst


def side_of_crossing(multiple: float) -> str:
    """Where a size sits against the crossing, from its exact ratio N / N* (never a rounded N):
    "at" within AT_BAND of 1, else "below" or "above"."""
    if abs(multiple - 1.0) <= AT_BAND + 1e-12:  # 0.98 - 1 is -0.020000000000000018
        return "at"
    return "below" if multiple < 1.0 else "above"


def prepare(df: pd.DataFrame) -> pd.DataFrame:
    """Derived columns: N / N* (exact) and its side, capacity / information, mem_U excess,
    converged."""
    df = df.copy()
    df["multiple"] = df["n_seqs"] / df["crossing_n_seqs"]
    df["side"] = [side_of_crossing(float(x)) for x in df["multiple"]]
    df["capacity_ratio"] = df["capacity_bits"] / df["data_bits"]
    df["mem_u_excess_bits"] = df["mem_u_bits"] - df["mem_u_heldout_bits"]
    df["converged"] = df["verdict"].isin(CONVERGED)
    return df.sort_values(["n_params", "n_seqs", "seed"]).reset_index(drop=True)


def _by_n(d: pd.DataFrame, col: str, half_col: str) -> tuple[pd.DataFrame, str]:
    """Per N, over the converged trials only: mean, range over seeds, seeds, the bootstrap
    half-width of the mean (``half_col`` per trial, combined as sqrt(sum h^2) / seeds: each
    trial's resamples are independent; nan when a trial has none), N / N*; and a note naming
    the budget trials left out and the sizes left out for having fewer than MIN_PAIRS converged
    seeds (their seed range is 0, no noise floor) ("" when none)."""
    conv = d[d["converged"]]
    budget = d[~d["converged"]]
    note = ""
    if len(budget):
        note = "; budget trials left out: " + ", ".join(
            f"N={int(r['n_seqs'])} seed {r['seed']}" for _, r in budget.iterrows()
        )
    half = conv[half_col] if half_col in conv else pd.Series(np.nan, index=conv.index)
    g = conv.assign(_half_sq=half.astype(float) ** 2).groupby("n_seqs")
    by_n = pd.DataFrame({
        "mean": g[col].mean(), "range": g[col].max() - g[col].min(), "seeds": g[col].size(),
        # nan unless every trial has one: one seed's half-width alone is not the mean's
        "half": np.sqrt(g["_half_sq"].sum().where(g["_half_sq"].count() == g[col].size()))
        / g[col].size(),
        "multiple": g["multiple"].mean(),
    })  # fmt: skip
    few = by_n[by_n["seeds"] < MIN_PAIRS]
    if len(few) and len(few) < len(by_n):
        note += f"; sizes with fewer than {MIN_PAIRS} converged seeds left out: " + ", ".join(
            f"N={int(n)}" for n in few.index
        )
    return by_n[by_n["seeds"] >= MIN_PAIRS], note


def _floor(m: pd.DataFrame, a: Any, b: Any, least: float = 0.0) -> float:
    """The noise floor a difference between the means at sizes ``a`` and ``b`` must clear: the
    larger seed range of the two, the 95% bootstrap half-width of the difference (the two
    sizes' half-widths in quadrature), and ``least``."""
    half = np.hypot(m.at[a, "half"], m.at[b, "half"])
    return float(max(m.at[a, "range"], m.at[b, "range"], half, least))


def _no_seed_range(d: pd.DataFrame, m: pd.DataFrame, half_col: str) -> str:
    """Why a claim that needs a seed range and a bootstrap floor cannot be decided ("" = it
    can): one seed per size, or no per-sequence bootstrap."""
    conv = d[d["converged"]]
    if conv.empty:
        return "no converged trials"
    most = int(conv.groupby("n_seqs")["seed"].nunique().max())
    if most < MIN_PAIRS:
        return (f"needs >= {MIN_PAIRS} converged seeds per size (one seed has no seed range, so "
                f"no noise floor); has {most}")  # fmt: skip
    if len(m) and m["half"].isna().any():
        return (f"no bootstrap over sequences ({half_col} missing: analyse the experiment, whose "
                "per-sequence records give it)")  # fmt: skip
    return ""


def claim_memorization(d: pd.DataFrame) -> dict[str, Any]:
    """Claim 1 for one model's trials: rise to the crossing, plateau near capacity, fall.

    Decided on converged trials only (budget ones are named in ``why``), at sizes with >= 2
    converged seeds; "not decided" unless they cover at least 2 sizes on each side of N*.
    Every step of the rise and the fall must clear ``_floor`` with MARGIN_SHARE of the capacity
    as its least: the seeds' range and the bootstrap interval of mem_U minus its held-out
    correction (its chance floor), so no verdict hinges on a difference inside either.
    """
    cap = float(d["capacity_bits"].iloc[0])
    m, note = _by_n(d, "mem_u_excess_bits", "mem_u_excess_ci95_half_bits")
    out: dict[str, Any] = {"capacity_bits": cap, "peak_mem_u_excess_bits": None,
                           "peak_n_seqs": None, "peak_multiple": None, "peak_over_capacity": None,
                           "largest_n_mem_u_excess_bits": None}  # fmt: skip
    if why := _no_seed_range(d, m, "mem_u_excess_ci95_half_bits"):
        return {**out, "verdict": UNDECIDED, "why": why + note}
    # the rise runs up to N*, a size at N* included (its exact ratio, AT_BAND)
    sides = [side_of_crossing(float(x)) for x in m["multiple"]]
    below = m[[s != "above" for s in sides]]
    if len(below) < 2 or sides.count("above") < 2:
        why = "needs 2 sizes with converged trials on each side of N*" + note
        return {**out, "verdict": UNDECIDED, "why": why}
    least = MARGIN_SHARE * cap
    peak_n = int(m["mean"].idxmax())
    peak = float(m["mean"].max())
    largest = m.index[-1]
    out.update({
        "peak_mem_u_excess_bits": peak, "peak_n_seqs": peak_n,
        "peak_multiple": float(m.loc[peak_n, "multiple"]), "peak_over_capacity": peak / cap,
        "largest_n_mem_u_excess_bits": float(m["mean"].iloc[-1]),
        "fall_floor_bits": _floor(m, peak_n, largest, least),
        "mem_u_excess_ci95_half_bits_by_n": {str(int(n)): float(h) for n, h in m["half"].items()},
    })  # fmt: skip
    ns, means = below.index, below["mean"]
    rise = bool(
        all(
            means[b] - means[a] > -_floor(m, a, b, least)
            for a, b in zip(ns[:-1], ns[1:], strict=True)
        )
        and means[ns[-1]] - means[ns[0]] > _floor(m, ns[0], ns[-1], least)
    )
    plateau = 1 / PLATEAU_BAND <= peak / cap <= PLATEAU_BAND
    fall = bool(m.at[largest, "mean"] < peak - out["fall_floor_bits"])
    parts = {"rise": rise, "plateau": plateau, "fall": fall}
    out.update(parts)
    if all(parts.values()):
        return {**out, "verdict": HELD, "why": "rises to N*, peaks near capacity, falls" + note}
    failed = ", ".join(k for k, v in parts.items() if not v)
    return {**out, "verdict": NOT_HELD, "why": f"no {failed}" + note}


def claim_double_descent(d: pd.DataFrame) -> dict[str, Any]:
    """Claim 2 for one model's trials: an interior peak of held-out excess near N*.

    Decided on converged trials at sizes with >= 2 converged seeds (at least 3 sizes), and only
    when every one of them trained the same steps (``equal_steps``): otherwise training length
    changes with N and a peak may be the stopping rule's. A peak is a size whose mean exceeds
    both neighbours' by more than ``_floor`` (the seeds' range and the bootstrap over held-out
    sequences); it holds near N* (within PEAK_BAND) when, besides, the paired comparison of its
    seeds with each neighbour's (``analysis.common.compare``, claim "greater") holds.
    """
    m, note = _by_n(d, "heldout_excess_bits_per_token", "heldout_excess_ci95_half_bits_per_token")
    mean = m["mean"].to_numpy()
    ns = list(m.index)
    floors = [
        (_floor(m, ns[i], ns[i - 1]), _floor(m, ns[i], ns[i + 1])) for i in range(1, len(m) - 1)
    ]
    peaks = [
        i for i, (lo, hi) in zip(range(1, len(m) - 1), floors, strict=True)
        if mean[i] - mean[i - 1] > lo and mean[i] - mean[i + 1] > hi
    ]  # fmt: skip
    out: dict[str, Any] = {
        "peak_multiples": [float(m["multiple"].iloc[i]) for i in peaks],
        "heldout_excess_by_multiple": {
            f"{x:.3g}": float(v) for x, v in zip(m["multiple"], mean, strict=True)
        },
        "noise_floor_by_multiple": {
            f"{m['multiple'].iloc[i]:.3g}": max(f)
            for i, f in zip(range(1, len(m) - 1), floors, strict=True)
        },  # fmt: skip
        "comparisons": [],
    }
    if why := _no_seed_range(d, m, "heldout_excess_ci95_half_bits_per_token"):
        return {**out, "verdict": UNDECIDED, "why": why + note}
    if len(m) < 3:
        return {**out, "verdict": UNDECIDED, "why": "needs 3 sizes with converged trials" + note}
    steps = d.loc[d["converged"] & d["n_seqs"].isin(ns), "step"] if "step" in d else None
    if steps is None or steps.isna().any():
        return {**out, "verdict": UNDECIDED, "why": "no step counts: equal training unknown"}
    if steps.min() != steps.max():
        return {**out, "verdict": UNDECIDED, "why": (
            f"trials trained {int(steps.min()):,}-{int(steps.max()):,} steps: training length "
            "changes with N, so a peak may be the stopping rule's (run with equal_steps)" + note
        )}  # fmt: skip
    near = [i for i in peaks if 1 / PEAK_BAND <= m["multiple"].iloc[i] <= PEAK_BAND]
    if near:
        i = near[0]
        x = m["multiple"].iloc[i]
        conv = d[d["converged"]].set_index(["n_seqs", "seed"])["heldout_excess_bits_per_token"]
        results = []
        for j in (i - 1, i + 1):
            both = conv.loc[ns[i]].index.intersection(conv.loc[ns[j]].index)
            c = compare(conv.loc[ns[i]][both], conv.loc[ns[j]][both], paired=True,
                        claim="greater")  # fmt: skip
            results.append(c)
            out["comparisons"].append(
                {"against_multiple": float(m["multiple"].iloc[j]), **c.as_dict()}
            )
        texts = "; ".join(
            f"over {m['multiple'].iloc[j]:.2g} x N* {c.text(fmt='+.3f')}"
            for j, c in zip((i - 1, i + 1), results, strict=True)
        )
        if all(c.verdict == HELD for c in results):
            return {
                **out,
                "verdict": HELD,
                "why": f"a peak at {x:.2g} x N* above the noise floor: {texts}" + note,
            }
        return {**out, "verdict": UNDECIDED, "why": f"a peak at {x:.2g} x N* clears the noise "
                f"floor, but the paired seeds do not decide it: {texts}" + note}  # fmt: skip
    if peaks:
        where = ", ".join(f"{m['multiple'].iloc[i]:.2g}" for i in peaks)
        return {**out, "verdict": NOT_HELD, "why": f"peak(s) at {where} x N*, not near N*" + note}
    return {**out, "verdict": NOT_HELD, "why": "no interior peak above the noise floor" + note}


def claim_sigmoid(df: pd.DataFrame, col: str) -> tuple[dict[str, Any], SigmoidFit | None]:
    """Claim 3: the attack's ``col`` against capacity / information, a sigmoid (all models).

    Fitted on the converged trials (``fit.fit_sigmoid``: ceiling points censored, intervals
    from a bootstrap over (seed, model) clusters). Not decided with fewer than MIN_CLUSTERS
    clusters, or points that do not reach below 0.75 and above 0.95; did not hold when R2 <
    MIN_R2 or when the rival (``fit.RIVAL``) predicts left-out clusters at least as well
    (``fit.cross_validate``); not decided when k's interval reaches 0; held otherwise.
    """
    conv = df[df["converged"]]
    clusters = (conv["model.name"].astype(str) + "/" + conv["seed"].astype(str)).to_numpy()
    fit = fit_sigmoid(conv["capacity_ratio"], conv[col], clusters)
    out: dict[str, Any] = {
        "metric": col, "n_points": int(len(conv)),
        "n_left_out_budget": int((~df["converged"]).sum()), "fit": None, "crossings": {},
        "n_clusters": int(len(set(clusters))), "rival": RIVAL, "criterion": CRITERION,
        "cv_squared_error": None,
    }  # fmt: skip
    if fit is None:
        return {**out, "verdict": UNDECIDED, "why": "fewer than 4 converged trials"}, None
    f = fit.result.as_dict()
    out["fit"] = f
    y, ratio = conv[col], conv["capacity_ratio"]
    for level in LEVELS:
        r, lo, hi = fit.crossing_ci95(level)
        # where the data alone places the crossing: between the largest ratio still below the
        # level and the smallest at or above it. A fit's interval inside a gap of the grid is
        # the sigmoid's shape speaking, not the points
        below, above = ratio[y < level], ratio[y >= level]
        bracket = [float(below.max()) if len(below) else None,
                   float(above.min()) if len(above) else None]  # fmt: skip
        out["crossings"][str(level)] = {"capacity_ratio": r, "ci95": [lo, hi],
                                        "data_bracket": bracket}  # fmt: skip
    if out["n_clusters"] < MIN_CLUSTERS:
        return {**out, "verdict": UNDECIDED, "why": f"needs >= {MIN_CLUSTERS} (seed, model) "
                f"clusters for a cluster bootstrap; has {out['n_clusters']}"}, fit  # fmt: skip
    spans = bool((y <= LEVELS[0]).any() and (y >= LEVELS[1]).any())
    if not spans:
        return {**out, "verdict": UNDECIDED, "why": f"points do not reach both below "
                f"{LEVELS[0]} and above {LEVELS[1]}"}, fit  # fmt: skip
    k_lo, r2 = f["k_ci95_low"], fit.result.r2
    if r2 < MIN_R2:
        return {**out, "verdict": NOT_HELD, "why": f"R2 {r2:.3f} < {MIN_R2}"}, fit
    cv = cross_validate(conv["capacity_ratio"], conv[col], clusters)
    out["cv_squared_error"] = {"sigmoid": cv["sigmoid"], "line": cv["line"]}
    versus = f"{CRITERION} {cv['sigmoid']:.4g} (sigmoid) vs {cv['line']:.4g} ({RIVAL})"
    if not cv["sigmoid"] < cv["line"]:
        return {**out, "verdict": NOT_HELD, "why": f"the rival predicts as well: {versus}"}, fit
    if k_lo <= 0:
        return {**out, "verdict": UNDECIDED, "why": f"beats the rival ({versus}), but the "
                f"points do not pin the slope (k's interval reaches {k_lo:.3g})"}, fit  # fmt: skip
    return {**out, "verdict": HELD, "why": f"beats the rival: {versus}; R2 {r2:.3f}, k's "
            "interval above 0"}, fit  # fmt: skip


def _fmt(v: Any, spec: str) -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)


def _ci(lo: Any, hi: Any) -> str:
    """ "[lo, hi]" in whole bits, "n/a" without an interval."""
    if lo is None or hi is None or math.isnan(lo) or math.isnan(hi):
        return "n/a"
    return f"[{lo:.0f}, {hi:.0f}]"


def _held_ci(r: pd.Series) -> tuple[Any, Any]:
    return r.get("mem_u_heldout_ci95_low_bits"), r.get("mem_u_heldout_ci95_high_bits")


def format_table(df: pd.DataFrame) -> list[str]:
    lines = [
        f"  {'model':<9}{'seed':>5}{'N':>6}{'N/N*':>7}{'cap/|D|':>9}{'verdict':>11}{'steps':>7}"
        f"{'mem_U':>9}{'heldout':>9}{'95% CI':>13}{'share':>7}{'ho excess':>10}{'AUROC':>7}"
        f"{'F1':>6}"
        f"{'F1 med':>7}{'AUROC ref':>10}",
    ]
    for _, r in df.iterrows():
        star = "" if r["converged"] else "*"
        lines.append(
            f"  {r['model.name']:<9}{r['seed']:>5}{int(r['n_seqs']):>6}{r['multiple']:>7.3f}"
            f"{r['capacity_ratio']:>9.3f}{r['verdict'] + star:>11}{_fmt(r.get('step'), '.0f'):>7}"
            f"{r['mem_u_bits']:>9.0f}{r['mem_u_heldout_bits']:>9.0f}"
            f"{_ci(*_held_ci(r)):>13}"
            f"{_fmt(r.get('memorized_share'), '.2f'):>7}"
            f"{r['heldout_excess_bits_per_token']:>10.3f}{r['auroc_loss']:>7.3f}"
            f"{r['f1_loss']:>6.3f}{_fmt(r.get('f1_median_loss'), '.3f'):>7}"
            f"{_fmt(r.get('auroc_ref'), '.3f'):>10}"
        )
    return lines


def format_report(summary: dict[str, Any], df: pd.DataFrame) -> str:
    counts = ", ".join(f"{n} {v}" for v, n in summary["verdicts"].items())
    lines = [
        f"generalization: {summary['n_trials']} trials ({counts}); * = budget: its figures "
        "are not converged and no claim rests on them",
        "  mem_U and heldout: bits (95% CI: the held-out correction's, a bootstrap over "
        "sequences); share: memorized share of the gap source -> floor; "
        "ho excess: held-out L_model - L_source, bits/token; AUROC/F1: loss attack "
        "(F1 = best over thresholds, F1 med = at the median); AUROC ref: L_source - L_model",
        *format_table(df),
        "",
        "claims (Morris et al. 2025), per model:",
    ]
    for m in summary["models"]:
        c1, c2 = m["memorization"], m["double_descent"]
        lines.append(
            f"  {m['model.name']} ({m['n_params']:,} params, capacity ~{c1['capacity_bits']:,.0f}"
            f" bits, N* = {m['crossing_n_seqs']:.0f}):"
        )
        peak = "" if c1["peak_mem_u_excess_bits"] is None else (
            f"; most mem_U - heldout {c1['peak_mem_u_excess_bits']:,.0f} bits "
            f"({c1['peak_over_capacity']:.2f} x capacity) at N = {c1['peak_n_seqs']} "
            f"({c1['peak_multiple']:.2g} x N*), at the largest converged N "
            f"{c1['largest_n_mem_u_excess_bits']:,.0f}"
        )  # fmt: skip
        lines.append(
            f"    1. mem_U rises, plateaus near capacity, falls: {c1['verdict']} ({c1['why']})"
            + peak
        )
        lines.append(
            f"    2. held-out loss peaks near N* (double descent): {c2['verdict']} ({c2['why']})"
        )
    for key, title in (("mi_f1", "3. MI best F1"), ("mi_auroc", "   MI AUROC"),
                       ("mi_f1_median", "   MI F1 at median")):  # fmt: skip
        c = summary[key]
        lines.append(
            f"  {title} vs capacity/|D| is a sigmoid: {c['verdict']} ({c['why']}); "
            f"{c['n_points']} converged trials, {c['n_left_out_budget']} budget left out"
        )
        if c["fit"]:
            f = c["fit"]
            lines.append(
                f"      y = lo + (1-lo) sigmoid(k (log2 r - x0)): lo {f['lo']:.3f} "
                f"[{_fmt(f['lo_ci95_low'], '.3f')}, {_fmt(f['lo_ci95_high'], '.3f')}], "
                f"k {f['k']:.2f} [{_fmt(f['k_ci95_low'], '.2f')}, {_fmt(f['k_ci95_high'], '.2f')}]"
                f", x0 {f['x0']:.2f} [{_fmt(f['x0_ci95_low'], '.2f')}, "
                f"{_fmt(f['x0_ci95_high'], '.2f')}], R2 {f['r2']:.3f}; 95% intervals: "
                f"{f['interval']}"
            )
            for level, x in c["crossings"].items():
                lo, hi = x["ci95"]
                b_lo, b_hi = x["data_bracket"]
                lines.append(
                    f"      crosses {level} at capacity/|D| = {_fmt(x['capacity_ratio'], '.3g')}"
                    f" [{_fmt(lo, '.3g')}, {_fmt(hi, '.3g')}] (fit); the data place it between "
                    f"{_fmt(b_lo, '.3g')} and {_fmt(b_hi, '.3g')}"
                )
    lines += [f"  warning: {w}" for w in summary["warnings"]]
    return "\n".join(line.rstrip() for line in lines)


def analyze(
    table: pd.DataFrame, records: pd.DataFrame | None, out: Path
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Recompute, judge the claims, write the table, summary and figures under ``out``."""
    from analysis.common.figures import plt
    from analysis.generalization.plots import plot_heldout_vs_n, plot_mem_vs_n, plot_mi

    n_trials = len(table)
    df, unfinished = finished_trials(table)
    if df.empty:
        raise UsageError(
            with_incomplete("generalization analysis: no finished trials", unfinished, n_trials)
        )
    df, worst = recompute(df, records)
    require_columns(df, REQUIRED, "generalization analysis")
    check_one_experiment(df, GenConfig, ["model.name"], VARIED, "generalization analysis")
    df = prepare(df)
    warnings = [incomplete_note(unfinished, n_trials)] if unfinished else []
    if not math.isnan(worst) and worst > 1e-9:
        warnings.append(f"recomputed mem_U differs from the reported one by up to {worst:.1e}")
    budget = df[~df["converged"]]
    if len(budget):
        warnings.append(
            f"{len(budget)} budget trial(s) (marked *, hollow in figures, left out of every "
            "claim): " + ", ".join(f"{r['model.name']} seed {r['seed']} N={int(r['n_seqs'])}"
                                   for _, r in budget.iterrows())
        )  # fmt: skip
    models = []
    for name, d in df.groupby("model.name", sort=False):
        models.append({
            "model.name": name, "n_params": int(d["n_params"].iloc[0]),
            "crossing_n_seqs": float(d["crossing_n_seqs"].iloc[0]),
            "memorization": claim_memorization(d), "double_descent": claim_double_descent(d),
        })  # fmt: skip
    mi_f1, fit_f1 = claim_sigmoid(df, "f1_loss")
    mi_auc, fit_auc = claim_sigmoid(df, "auroc_loss")
    mi_med, _ = claim_sigmoid(df, "f1_median_loss") if "f1_median_loss" in df else (
        {"verdict": UNDECIDED, "why": "no f1_median_loss column", "n_points": 0,
         "n_left_out_budget": 0, "fit": None, "crossings": {}, "n_clusters": 0,
         "rival": RIVAL, "criterion": CRITERION, "cv_squared_error": None}, None)  # fmt: skip
    summary: dict[str, Any] = {
        "n_trials": int(len(df)),
        "verdicts": {str(k): int(v) for k, v in df["verdict"].value_counts().items()},
        "models": models, "mi_f1": mi_f1, "mi_auroc": mi_auc, "mi_f1_median": mi_med,
        "recomputed_from_sequences": records is not None,
        "reference_attack_auroc_minus_loss_attack": float(
            (df["auroc_ref"] - df["auroc_loss"]).mean()) if "auroc_ref" in df else None,
        "warnings": warnings,
        **completeness(df, unfinished),
    }  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    df.to_csv(out / "table.csv", index=False)
    df.to_parquet(out / "table.parquet")
    names = ["table.csv", "table.parquet", "summary.json"]
    if records is not None:
        records.to_parquet(out / "sequences.parquet")
        names.append("sequences.parquet")
    write_json(out / "summary.json", summary)
    figures = {
        "mem_vs_n.png": plot_mem_vs_n(df),
        "heldout_vs_n.png": plot_heldout_vs_n(df),
        "mi_vs_capacity_ratio.png": plot_mi(df, fit_f1, fit_auc),
    }
    for fname, fig in figures.items():
        fig.savefig(out / fname, dpi=120)
        plt.close(fig)
    summary["outputs"] = [str(out / f) for f in [*names, *figures]]
    return summary, df


def run(path: str, out: Path) -> tuple[str, list[str]]:
    table, records = load_records(path)
    summary, df = analyze(table, records, out)
    return format_report(summary, df), summary["outputs"]


analyze_experiment, main = analysis_cli("generalization", __doc__, run)
