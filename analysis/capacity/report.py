"""Capacity analysis (seed 002): plateau of memorized bits, linear fit vs parameters.

Reads a capacity experiment (or a plain table with the same columns), never trains:

    python -m analysis.capacity results/capacity_default_20261122-061500
    python -m analysis.capacity my_runs.csv --out figures/

Every trial carries a verdict from its loop (``memtune.experiments.capacity.loop.verdict``):
``memorized`` (the data was the limit), ``saturated`` (bits flat at an annealed lr) or
``budget`` (stopped while not judged flat). The capacity of a (model, seed) is the most bits any
of its trials stored. It is ``converged`` when that trial saturated and no budget trial of the
same (model, seed) could still pass it (one could unless its data holds fewer bits than the
capacity); every other capacity is a ``lower bound`` and the report says why.

The fit of capacity vs parameters (bits per parameter) uses converged capacities only, and is
made only when at least two model sizes have one: a line through lower bounds bounds nothing (it
can be steeper than the true line when the smallest model is the most under-trained), so then
``bits_per_param`` is null and each model's ``>= x bits/param`` is printed instead. The slope's
interval is cluster-robust by model: the seeds of one model share its departure from the line.
Beside the slope, each model's own capacity / parameters (mean over its converged seeds, with
an interval) is the figure to compare with Morris et al.'s 3.6.

A saturated run is flat at an annealed lr; that is the model's limit only if nothing else stores
more. The report flags a saturated run that another trial of the same model (another seed, N or
optimizer setting) or the model's ground truth beats by more than ``OPTIMIZER_TOL``: flat, but
limited by its optimizer or its seed.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.capacity.vocab import SPLIT, format_vocab, varies, vocab_summary, with_group_labels
from analysis.common.cli import analysis_cli
from analysis.common.fit import FitResult, fit_linear, mean_ci95
from analysis.common.jsonfile import write_json
from analysis.common.load import (
    TABLE_SUFFIXES,
    check_across,
    check_one_experiment,
    completeness,
    finished_trials,
    incomplete_note,
    load_table,
    read_store,
    require_columns,
    with_incomplete,
)
from analysis.common.store import is_uri
from memtune.core.cli import UsageError
from memtune.experiments.capacity.config import TrainConfig

REQUIRED = [
    "model.name", "data.n_seqs", "seed", "n_params",
    "bits_memorized_best", "bits_achievable", "seqs_memorized",
]  # fmt: skip
# what a (model, seed) takes its capacity over; every other config field must be equal in it
# (knee_multiple places N per model; the protocol study's settings are told apart by optim.name)
VARIED = ["data.n_seqs", "knee_multiple", "optim.lr", "optim.lr_scale"]
# what may differ between groups besides VARIED and the seed: the group's identity (the model,
# V, tying, precision; a protocol study's settings) and each model's step budget with what the
# protocol derives from it (the default gives each model its own budget)
SEEDS = ["seed", "data.seed", "init_seed"]  # replicates: the data draw and the initialisation
ACROSS = (
    "model", "data.vocab_size", "optim.dtype", "max_steps", "eval_every", "patience",
    "saturation_window", "optim.decay_steps", "optim.hold_steps", "optim.stall_steps",
)  # fmt: skip
EVIDENCE = ("memorized", "saturated")  # verdicts whose bits are converged measurements
CONVERGED, LB_DATA, LB_BUDGET = "converged", "lower bound: data", "lower bound: budget"
# past the knee, a saturated trial storing this much less than the capacity marks bits falling
# with N beyond seed noise
FALL_TOL = 0.15
# a saturated run this far below another run of its model, or its ground truth, is flat but not
# at the model's limit (the issue's 5% bar against the ground truth)
OPTIMIZER_TOL = 0.05
# bits/param of long runs on this machine, by (model, N): one run each past the knee, seed 0, a
# schedule fixed in advance (the protocol's shape), flat (< 1%) over its last third
# (benchmarks/capacity_truth.py; docs/capacity.md, "The ground truth"). Bits fall with N past
# the knee (cpu-xxs: 2.06 at 2x, 1.89 at 5.7x), so a model is compared at the N nearest its own.
GROUND_TRUTH = {("cpu-xxs", 99): 2.06, ("cpu-xxs", 256): 1.89, ("cpu-s", 512): 1.95}
# what each capacity row carries from its trials: the preset, the vocab/tying/precision axes
# (model.name is the group's label, ``analysis.capacity.vocab``) and the parameter split
CARRIED = ["model.base", "data.vocab_size", "model.tie_embeddings", "optim.dtype", *SPLIT]


def ground_truth(model: str, n_seqs: float) -> tuple[float, int]:
    """(bits/param, N) of the model's long run at the N nearest ``n_seqs``; (nan, 0) if none."""
    runs = [
        (abs(math.log(n / n_seqs)), bpp, n) for (m, n), bpp in GROUND_TRUTH.items() if m == model
    ]
    if not runs or not n_seqs > 0:
        return math.nan, 0
    _, bpp, n = min(runs)
    return bpp, n


def with_verdicts(df: pd.DataFrame) -> pd.DataFrame:
    """The table with a ``verdict`` per trial; stores written before verdicts get "unjudged"."""
    df = df.copy()
    if "verdict" not in df:
        df["verdict"] = "unjudged"
    df["verdict"] = df["verdict"].fillna("").replace("", "unjudged")
    return df


def group_keys(df: pd.DataFrame) -> list[str]:
    """What one capacity is taken over: a (model, seed), and the optimizer setting when a
    protocol study names several (settings are compared, never pooled)."""
    study = "optim.name" in df and df["optim.name"].fillna("").nunique() > 1
    return ["model.name", "seed", *(["optim.name"] if study else [])]


def _rising(trial: pd.Series) -> str:
    gain = trial.get("recent_gain", float("nan"))
    return f", still rising {gain:+.1%} over its last window" if pd.notna(gain) else ""


def _judge_capacity(d: pd.DataFrame, best: pd.Series) -> tuple[str, str]:
    """(status, reason) of the capacity ``best`` sets among the trials ``d`` of one group."""
    bits = float(best["bits_memorized_best"])
    where = f"N={int(best['data.n_seqs'])}, efficiency {bits / best['bits_achievable']:.0%}"
    if (d["verdict"] == "unjudged").all():
        return LB_BUDGET, f"the store has no verdicts (written before them; best {where})"
    if best["verdict"] == "saturated":
        # a budget trial whose data holds more bits than the capacity could still pass it
        rivals = d[~d["verdict"].isin(EVIDENCE) & (d["bits_achievable"] > bits)]
        if rivals.empty:
            return CONVERGED, ""
        r = rivals.loc[rivals["bits_memorized_best"].idxmax()]
        below = 1 - r["bits_memorized_best"] / bits
        return LB_BUDGET, (
            f"its best trial ({where}) saturated, but its N={int(r['data.n_seqs'])} trial ended "
            f"on its budget {below:.1%} below it{_rising(r)}, and could still pass it"
        )
    if best["verdict"] == "memorized":
        larger = d[(d["verdict"] == "saturated") & (d["data.n_seqs"] > best["data.n_seqs"])]
        if larger.empty:
            return LB_DATA, f"every trial that ended memorized its whole data set ({where}); " + (
                "add larger n_seqs"
            )
        r = larger.loc[larger["bits_memorized_best"].idxmax()]
        return LB_DATA, (
            f"its best trial memorized its whole data set ({where}); the larger "
            f"N={int(r['data.n_seqs'])} saturated lower ({r['bits_memorized_best']:,.0f} bits): "
            "bits fall past the knee, or that run was limited by its optimizer"
        )
    saturated = d.loc[d["verdict"] == "saturated", "bits_memorized_best"]
    if len(saturated):
        less = 1 - saturated.max() / bits
        return LB_BUDGET, (
            f"its best trial ({where}) ran out of steps{_rising(best)}; its saturated trials "
            f"stored {less:.0%} less"
        )
    return LB_BUDGET, f"no trial memorized or saturated; its best ({where}) ran out of steps" + (
        _rising(best)
    )


def capacities(df: pd.DataFrame) -> pd.DataFrame:
    """One row per (model, seed[, setting]): capacity as the plateau over dataset sizes.

    Capacity is the most bits any trial stored: a model holds at least what it was measured
    to hold. It is converged only when that trial saturated and no budget trial of the group
    could still pass it (``_judge_capacity``); otherwise a lower bound with its reason.

    Returns columns model.name, seed, [optim.name,] n_params, capacity_bits, bpp,
    n_seqs_at_capacity, efficiency_at_capacity, verdict_at_capacity, status, plateau_reached,
    reason, max_seqs_memorized, n_sizes, n_budget, best_saturated_bits.
    """
    keys = group_keys(df)
    rows = []
    for key, d in df.groupby(keys, sort=False):
        best = d.loc[d["bits_memorized_best"].idxmax()]
        n_params = int(d["n_params"].iloc[0])
        status, reason = _judge_capacity(d, best)
        saturated = d.loc[d["verdict"] == "saturated", "bits_memorized_best"]
        rows.append({
            **dict(zip(keys, key, strict=True)),
            "n_params": n_params,
            **{c: d[c].iloc[0] for c in CARRIED if c in d},
            "capacity_bits": float(best["bits_memorized_best"]),
            "bpp": float(best["bits_memorized_best"]) / n_params,
            "n_seqs_at_capacity": int(best["data.n_seqs"]),
            "efficiency_at_capacity": float(best["bits_memorized_best"] / best["bits_achievable"]),
            "verdict_at_capacity": str(best["verdict"]),
            "status": status,
            "plateau_reached": status == CONVERGED,
            "reason": reason,
            "max_seqs_memorized": int(d["seqs_memorized"].max()),
            "n_sizes": int(d["data.n_seqs"].nunique()),
            "n_budget": int((~d["verdict"].isin(EVIDENCE)).sum()),
            "best_saturated_bits": float(saturated.max()) if len(saturated) else float("nan"),
        })  # fmt: skip
    return pd.DataFrame(rows).sort_values(["n_params", "seed"]).reset_index(drop=True)


def per_model(cap: pd.DataFrame) -> pd.DataFrame:
    """Each model's capacity and bits per parameter: the mean over its converged seeds with a
    95% interval over them (the figure to compare with 3.6). A model with no converged seed gets
    the mean over all its seeds as a lower bound (a mean of lower bounds bounds the mean), no
    interval, and ``bound`` ">=". ``vs_ground_truth`` is its bits/param against the long run
    at the N nearest its capacities' (``ground_truth``), where one was measured."""
    rows = []
    for name, d in cap.groupby("model.name", sort=False):
        conv = d[d["plateau_reached"]]
        used = conv if len(conv) else d
        c, c_lo, c_hi = mean_ci95(used["capacity_bits"]) if len(conv) else (
            float(d["capacity_bits"].mean()), math.nan, math.nan
        )  # fmt: skip
        b, b_lo, b_hi = mean_ci95(used["bpp"]) if len(conv) else (
            float(d["bpp"].mean()), math.nan, math.nan
        )  # fmt: skip
        truth, truth_n = ground_truth(str(name), float(used["n_seqs_at_capacity"].median()))
        rows.append({
            "model.name": name, "n_params": int(d["n_params"].iloc[0]), "n_seeds": len(d),
            "n_converged": len(conv), "bound": "" if len(conv) else ">=",
            "capacity_bits": c, "capacity_ci95_low": c_lo, "capacity_ci95_high": c_hi,
            "bpp": b, "bpp_ci95_low": b_lo, "bpp_ci95_high": b_hi,
            "bpp_seed_min": float(used["bpp"].min()), "bpp_seed_max": float(used["bpp"].max()),
            "ground_truth_bpp": truth, "ground_truth_n_seqs": truth_n,
            "vs_ground_truth": b / truth - 1 if len(conv) else math.nan,  # a bound decides nothing
            "max_seqs_memorized": int(d["max_seqs_memorized"].max()),
            "plateau_reached": bool(d["plateau_reached"].all()),
        })  # fmt: skip
    return pd.DataFrame(rows).sort_values("n_params").reset_index(drop=True)


def left_out(cap: pd.DataFrame) -> list[dict[str, Any]]:
    """Every (model, seed) the fit leaves out, with the reason."""
    return [
        {"model.name": r["model.name"], "seed": int(r["seed"]), "status": r["status"],
         "capacity_bits": r["capacity_bits"], "reason": r["reason"]}
        for _, r in cap[~cap["plateau_reached"]].iterrows()
    ]  # fmt: skip


def fit_capacity(cap: pd.DataFrame) -> FitResult | None:
    """capacity_bits = slope * n_params + intercept over the converged (model, seed) points,
    the interval cluster-robust by model; None with fewer than two converged model sizes, or
    when the groups differ in vocabulary, tying or precision (one slope does not describe
    parameters that store different amounts: ``analysis.capacity.vocab`` fits them)."""
    conv = cap[cap["plateau_reached"]]
    if conv["n_params"].nunique() < 2 or varies(cap):
        return None
    return fit_linear(
        conv["n_params"].to_numpy(), conv["capacity_bits"].to_numpy(),
        clusters=conv["model.name"].to_numpy(), cluster_name="model",
    )  # fmt: skip


def no_fit_reason(cap: pd.DataFrame) -> str:
    if varies(cap):
        return (
            "no single capacity fit: the groups differ in vocabulary, tying or precision, whose "
            "parameters store different amounts; see the body-vs-embedding fit below"
        )
    sizes = cap.loc[cap["plateau_reached"], "model.name"].unique()
    have = f" ({', '.join(map(str, sizes))})" if len(sizes) else ""
    return (
        f"no capacity fit: {len(sizes)} model size(s) have a converged capacity{have}, it needs "
        "2; a line through lower bounds bounds nothing (it can be steeper than the true line)"
    )


def _trial_label(r: pd.Series) -> str:
    setting = r.get("optim.name", "")
    return f"seed {r['seed']} N={int(r['data.n_seqs'])}" + (f" ({setting})" if setting else "")


def optimizer_limited(df: pd.DataFrame) -> list[str]:
    """Saturated trials that another trial of the same model, or its ground truth, beats by more
    than OPTIMIZER_TOL: flat at an annealed lr, yet not the model's limit."""
    out = []
    for name, d in df.groupby("model.name", sort=False):
        n_params = int(d["n_params"].iloc[0])
        best = d.loc[d["bits_memorized_best"].idxmax()]
        best_bpp = best["bits_memorized_best"] / n_params
        for i, r in d[d["verdict"] == "saturated"].iterrows():
            bpp = r["bits_memorized_best"] / n_params
            truth, truth_n = ground_truth(str(name), float(r["data.n_seqs"]))
            if i != best.name and bpp < (1 - OPTIMIZER_TOL) * best_bpp:
                rival = f"{1 - bpp / best_bpp:.0%} below {_trial_label(best)} ({best_bpp:.3f})"
            elif bpp < (1 - OPTIMIZER_TOL) * truth:  # False for nan: no ground truth
                rival = f"{1 - bpp / truth:.0%} below the ground truth ({truth} at N={truth_n})"
            else:
                continue
            out.append(
                f"{name} {_trial_label(r)} saturated at {bpp:.3f} bits/param, {rival}: flat, but "
                "limited by its optimizer or seed, not by the model"
            )
    return out


def falls_past_knee(df: pd.DataFrame, cap: pd.DataFrame) -> list[str]:
    """Saturated trials past the capacity's dataset size that stored > FALL_TOL less than it:
    bits falling with N, which a converged protocol should not show."""
    out = []
    for _, c in cap[cap["plateau_reached"]].iterrows():
        d = df[(df["model.name"] == c["model.name"]) & (df["seed"] == c["seed"])]
        past = d[(d["data.n_seqs"] > c["n_seqs_at_capacity"]) & (d["verdict"] == "saturated")]
        for _, r in past.iterrows():
            drop = 1 - r["bits_memorized_best"] / c["capacity_bits"]
            if drop > FALL_TOL:
                out.append(
                    f"{c['model.name']} seed {c['seed']}: N={int(r['data.n_seqs'])} saturated "
                    f"{drop:.0%} below its capacity at N={c['n_seqs_at_capacity']}"
                )
    return out


def summarize(
    df: pd.DataFrame, cap: pd.DataFrame, models: pd.DataFrame, fit: FitResult | None
) -> dict:
    warnings = []
    if fit is not None and fit.n_points < 4:
        warnings.append(f"fit rests on {fit.n_points} points; intervals are wide")
    out = left_out(cap)
    for r in out:
        warnings.append(
            f"left out of the fit: {r['model.name']} seed {r['seed']} ({r['status']}): "
            f"{r['reason']}"
        )
    warnings += [f"optimizer-limited: {w}" for w in optimizer_limited(df)]
    warnings += [f"bits fall past the knee: {w}" for w in falls_past_knee(df, cap)]
    if varies(cap) and not set(SPLIT) <= set(cap):
        warnings.append("the store predates the parameter split: no body-vs-embedding fit")
    counts = df["verdict"].value_counts()
    summary: dict[str, Any] = {
        "bits_per_param": None, "bits_per_param_ci95": [None, None], "interval": None,
        "intercept_bits": None, "intercept_ci95": [None, None], "r2": None,
        "n_points": 0, "n_models_fitted": 0, "fit_on": "converged capacities",
        "no_fit_reason": None,
    }  # fmt: skip
    if fit is None:
        summary["no_fit_reason"] = no_fit_reason(cap)
    else:
        f = fit.as_dict()
        summary.update({
            "bits_per_param": f["slope"],
            "bits_per_param_ci95": [f["slope_ci95_low"], f["slope_ci95_high"]],
            "interval": fit.interval,
            "intercept_bits": f["intercept"],
            "intercept_ci95": [f["intercept_ci95_low"], f["intercept_ci95_high"]],
            "r2": fit.r2, "n_points": fit.n_points, "n_models_fitted": fit.n_clusters,
        })  # fmt: skip
    summary.update({
        "n_trials": int(len(df)),
        "verdicts": {str(k): int(v) for k, v in counts.items()},
        "models": models.to_dict(orient="records"),
        "left_out": out,
        "warnings": warnings,
    })  # fmt: skip
    if varies(cap) and set(SPLIT) <= set(cap):
        summary["vocab"] = vocab_summary(cap)
    return summary


def _num(v: Any, fmt: str) -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, fmt)


def format_report(summary: dict[str, Any]) -> str:
    study = format_protocol(summary["protocol"]) if "protocol" in summary else ""
    if "models" not in summary:
        return study
    verdicts = ", ".join(f"{n} {v}" for v, n in summary.get("verdicts", {}).items())
    if summary.get("bits_per_param") is not None:
        lo, hi = summary["bits_per_param_ci95"]
        lines = [
            f"capacity fit over {summary['n_points']} converged (model, seed) points of "
            f"{summary['n_models_fitted']} models, from {summary['n_trials']} trials:",
            f"  bits per parameter = {summary['bits_per_param']:.3f}  95% CI [{_num(lo, '.3f')}, "
            f"{_num(hi, '.3f')}]   (Morris et al.: 3.6)",
            f"  interval: {summary['interval']}",
            f"  intercept = {summary['intercept_bits']:.0f} bits   R2 = {summary['r2']:.4f}",
        ]
    else:
        lines = [
            f"{summary['no_fit_reason']}.",
            f"  {summary['n_trials']} trials; each model's bits/param below ('>=' = lower bound)",
        ]
    # a group's label ("cpu-xxs V=256 tied") is wider than a model's name: the column fits it
    w = max([10, *(len(str(m["model.name"])) + 2 for m in summary["models"])])
    lines += [
        f"  trial verdicts: {verdicts}",
        "",
        f"  {'model':<{w}}{'params':>8}{'converged':>11}{'capacity bits':>15}{'95% CI':>18}"
        f"{'bits/param':>12}{'95% CI':>16}  {'ground truth':<22}",
    ]
    for m in summary["models"]:
        one = m["n_converged"] == 1
        ci = "(1 seed)" if one else (
            f"[{_num(m['capacity_ci95_low'], ',.0f')}, {_num(m['capacity_ci95_high'], ',.0f')}]"
        )  # fmt: skip
        bci = "(1 seed)" if one else (
            f"[{_num(m['bpp_ci95_low'], '.3f')}, {_num(m['bpp_ci95_high'], '.3f')}]"
        )  # fmt: skip
        if m["bound"]:
            ci = bci = "(lower bound)"
        truth = m.get("ground_truth_bpp")
        gt = "-" if truth is None or math.isnan(truth) else (
            f"{truth:.2f} (not compared)" if m["bound"] else
            f"{truth:.2f} at N={m['ground_truth_n_seqs']} ({m['vs_ground_truth']:+.1%})"
        )  # fmt: skip
        lines.append(
            f"  {m['model.name']:<{w}}{m['n_params']:>8,}"
            f"{str(m['n_converged']) + '/' + str(m['n_seeds']):>11}"
            f"{m['bound'] + format(m['capacity_bits'], ',.0f'):>15}{ci:>18}"
            f"{m['bound'] + format(m['bpp'], '.3f'):>12}{bci:>16}  {gt:<22}"
        )
    lines.append(
        "  converged = seeds whose capacity rests on a saturated trial that no budget trial could "
        "pass; a model's figures are over those seeds ('>=': none converged, a lower bound)"
    )
    lines += [f"  warning: {w}" for w in summary["warnings"]]
    if "vocab" in summary:
        lines += ["", format_vocab(summary["vocab"])]
    return "\n".join(line.rstrip() for line in lines + ([""] + [study] if study else []))


def protocol_table(df: pd.DataFrame) -> pd.DataFrame | None:
    """The protocol study's table, one row per trial, grouped by model, best bits/param first;
    None unless the trials name more than one optimizer setting (``optim.name``).

    Trials that did not end normally stay in the table with verdict "incomplete (STATUS)", so a
    setting that did not finish is named rather than missing. CPU seconds are train_seconds +
    eval_seconds: what the trial cost, whether it stopped on its verdict or at the step cap.
    """
    if "optim.name" not in df or df["optim.name"].fillna("").nunique() < 2:
        return None
    status = (
        df["status"].fillna("TERMINATED") if "status" in df else pd.Series("TERMINATED", df.index)
    )
    verdict = df["verdict"].where(status == "TERMINATED", "incomplete (" + status.astype(str) + ")")
    t = pd.DataFrame({
        "setting": df["optim.name"], "model.name": df["model.name"], "seed": df["seed"],
        "n_seqs": df["data.n_seqs"], "steps": df.get("step", math.nan),
        "cpu_seconds": df.get("train_seconds", math.nan) + df.get("eval_seconds", math.nan),
        "bpp_best": df["bits_memorized_best"] / df["n_params"],
        "efficiency_best": df["bits_memorized_best"] / df["bits_achievable"],
        "verdict": verdict, "decay_start": df.get("decay_start", -1),
        "recent_gain": df.get("recent_gain", math.nan),
    })  # fmt: skip
    return t.sort_values(["model.name", "bpp_best"], ascending=[True, False]).reset_index(drop=True)


def format_protocol(rows: list[dict[str, Any]]) -> str:
    lines = [
        "protocol study (one trial per setting and model; settings are compared, not pooled or "
        "fitted; CPU s = train + eval seconds):",
        f"  {'setting':<10}{'model':<9}{'seed':>5}{'N':>5}{'steps':>8}{'CPU s':>8}"
        f"{'bits/param':>12}{'eff':>6}{'verdict':>11}{'decay at':>10}{'last gain':>11}",
    ]
    incomplete = []
    for r in rows:
        if str(r["verdict"]).startswith("incomplete"):
            incomplete.append(f"{r['setting']} on {r['model.name']}: {r['verdict']}")
        lines.append(
            f"  {r['setting']:<10}{r['model.name']:<9}{r['seed']:>5}{r['n_seqs']:>5}"
            f"{_num(r['steps'], '.0f'):>8}"
            f"{_num(r['cpu_seconds'], '.0f'):>8}{_num(r['bpp_best'], '.3f'):>12}"
            f"{_num(r['efficiency_best'], '.2f'):>6}{r['verdict']:>11}"
            f"{_num(r['decay_start'], '.0f'):>10}{_num(r['recent_gain'], '+.1%'):>11}"
        )
    if incomplete:
        lines.append(
            f"  incomplete: {len(incomplete)} trial(s) did not finish, their figures are partial: "
            + "; ".join(incomplete)
        )
    return "\n".join(lines)


def analyze(df: pd.DataFrame, out: Path, seq_len: int | None = None) -> dict[str, Any]:
    """Fit, write table/summary/plots under ``out``, and return the summary.

    A protocol study (several named optimizer settings) gets ``protocol.csv`` and its table
    instead of a fit: its settings are compared, not pooled into one capacity.
    """
    from analysis.capacity.plots import (
        plot_bits_per_param,
        plot_bits_vs_dataset,
        plot_bits_vs_vocab,
        plot_capacity_fit,
    )
    from analysis.common.figures import plt

    require_columns(df, REQUIRED, "capacity analysis")
    n_trials = len(df)
    if "n_seqs" in df:  # the N a trial trained on (knee_multiple derives it from the model)
        df = df.assign(**{"data.n_seqs": df["n_seqs"].fillna(df["data.n_seqs"])})
    study = protocol_table(with_verdicts(df))
    df, unfinished = finished_trials(df)  # the shared rule: only trials that ended normally
    if df.empty:
        msg = "capacity analysis: no finished trials to analyse"
        raise UsageError(with_incomplete(msg, unfinished, n_trials))
    df = with_group_labels(with_verdicts(df))
    df["data.n_seqs"] = df["data.n_seqs"].astype(int)
    # the whole protocol: equal over a model's seeds, and across models but for what tells
    # groups apart and each model's step budget (check_across says which fields those are)
    groups = [k for k in group_keys(df) if k != "seed"]
    check_one_experiment(df, TrainConfig, groups, [*VARIED, *SEEDS], "capacity analysis")
    settings = ["optim"] if "optim.name" in groups else []
    check_across(df, TrainConfig, [*ACROSS, *VARIED, *SEEDS, *settings], "capacity analysis")
    bad = df[(df["n_params"] <= 0) | (df["data.n_seqs"] <= 0)]
    if not bad.empty:
        raise UsageError("capacity analysis: n_params and data.n_seqs must be > 0 in every row")
    out.mkdir(parents=True, exist_ok=True)
    df.to_csv(out / "table.csv", index=False)
    if study is not None:
        study.to_csv(out / "protocol.csv", index=False)
        rows = study.to_dict(orient="records")
        write_json(out / "protocol.json", rows)
        summary = {"protocol": rows, **completeness(df, unfinished)}
        write_json(out / "summary.json", summary)
        names = ["table.csv", "protocol.csv", "protocol.json", "summary.json"]
        return {**summary, "outputs": [str(out / f) for f in names]}
    cap = capacities(df)
    models = per_model(cap)
    fit = fit_capacity(cap)
    summary = summarize(df, cap, models, fit)
    summary.update(completeness(df, unfinished))
    if unfinished:
        summary["warnings"].insert(0, incomplete_note(unfinished, n_trials))
    df.to_parquet(out / "table.parquet")
    cap.to_csv(out / "capacity.csv", index=False)
    write_json(out / "summary.json", summary)
    if seq_len is None:
        seq_len = int(df["data.seq_len"].iloc[0]) if "data.seq_len" in df else 64
    vocabs = df["data.vocab_size"].unique()
    # bits a sequence carries, for the achievable curve: one V only
    seq_bits = seq_len * math.log2(int(vocabs[0])) if len(vocabs) == 1 else None
    figures = {
        "bits_vs_dataset.png": plot_bits_vs_dataset(df, cap, seq_bits),
        "capacity_vs_params.png": plot_capacity_fit(cap, fit),
        "bits_per_param.png": plot_bits_per_param(models),
    }
    if "vocab" in summary:
        figures["bits_per_param_vs_vocab.png"] = plot_bits_vs_vocab(
            pd.DataFrame(summary["vocab"]["groups"])
        )
    for fname, fig in figures.items():
        fig.savefig(out / fname, dpi=120)
        plt.close(fig)
    summary["outputs"] = [
        str(out / f)
        for f in ["table.parquet", "table.csv", "capacity.csv", "summary.json", *figures]
    ]
    return summary


def load_histories(path: str) -> pd.DataFrame | None:
    """Every report of every trial of an experiment (one row per evaluation), local or at a URI,
    or None for a plain table: the protocol figure draws bits/param against CPU-seconds along
    each run."""
    if not is_uri(path) and (Path(path).suffix in TABLE_SUFFIXES or not Path(path).is_dir()):
        return None
    return read_store(path).history()


def run(path: str, out: Path) -> tuple[str, list[str]]:
    summary = analyze(load_table(path), out)
    if "protocol" in summary:
        from analysis.capacity.plots import plot_protocol

        history = load_histories(path)
        if history is not None and "optim.name" in history:
            plot_protocol(history).savefig(out / "protocol.png", dpi=120)
            summary["outputs"].append(str(out / "protocol.png"))
    return format_report(summary), summary["outputs"]


analyze_experiment, main = analysis_cli("capacity", __doc__, run)
