"""Capacity analysis (seed 002): plateau of memorized bits, linear fit vs parameters.

Reads a capacity experiment (or a plain table with the same columns), never trains:

    python -m analysis.capacity results/capacity_default_20261122-061500
    python -m analysis.capacity my_runs.csv --out figures/

Every trial carries a verdict from its loop (``memtune.experiments.capacity.loop.verdict``):
``memorized`` (the data was the limit), ``saturated`` (bits flat at an annealed lr) or
``budget`` (stopped while not judged flat). A trial's figure is its level: the mean of its
memorized bits over the window its verdict judged (``memtune.core.progress.level``), the
estimator the ground truth uses too; the best of its evaluations is kept as a diagnostic
(``bits_memorized_best``), never compared. The capacity of a (model, seed) is the highest level
among its trials (the plateau over N). It is ``converged`` when that trial saturated and no budget
trial of the same (model, seed) could still pass it (one could unless its data holds fewer bits
than the capacity); every other capacity is a ``lower bound`` and the report says why.

The fit of capacity vs parameters (bits per parameter) uses converged capacities only, and is
made only when at least two model sizes have one: a line through lower bounds bounds nothing (it
can be steeper than the true line when the smallest model is the most under-trained), so then
``bits_per_param`` is null and each model's ``>= x bits/param`` is printed instead. The slope's
interval is cluster-robust by model: the seeds of one model share its departure from the line.
Beside the slope, each model's own capacity / parameters is the figure to compare with Morris
et al.'s 3.6: the mean over its seeds, each seed a converged sample of what the protocol stores
(the 3 x 3 data/init design in docs/capacity.md: seeds flat at different levels are the
protocol's spread, not runs short of the model's limit). A mean over seeds of which some are
lower bounds is printed as a bound (">="), the bound seeds counted at their bound, never as a
figure below what the data bound. The best seed is printed beside it, and every figure carries
its seed spread: its own seeds' when it has two or more, else the spread measured for that model
and stored here (``SEED_SPREAD``), named as such.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.capacity.seeds import format_seed_designs, seed_designs
from analysis.capacity.vocab import SPLIT, format_vocab, varies, vocab_summary, with_group_labels
from analysis.common.cli import analysis_cli
from analysis.common.compare import compare
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
from memtune.core.progress import judging_window, level
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
# a replicate: its seed, data draw and initialisation (the last two follow ``seed`` unless set)
SEEDS = ["seed", "data.seed", "init_seed"]
ACROSS = (
    "model", "data.vocab_size", "optim.dtype", "max_steps", "eval_every", "patience",
    "saturation_window", "optim.decay_steps", "optim.hold_steps", "optim.stall_steps",
)  # fmt: skip
EVIDENCE = ("memorized", "saturated")  # verdicts whose bits are converged measurements
CONVERGED, LB_DATA, LB_BUDGET = "converged", "lower bound: data", "lower bound: budget"
# past the knee, a saturated trial storing this much less than the capacity marks bits falling
# with N beyond seed noise
FALL_TOL = 0.15
# a trial's figure (``with_estimates``): its level, or for stores that predate it the best of
# its evaluations (biased up by the evaluations' swing, and said so)
BITS, LEVEL, BEST = "bits_estimate", "bits_memorized_level", "bits_memorized_best"
# bits/param of long runs by (model, N), by the trials' own estimator: the level, the mean of
# memorized bits over the window the run's rule judges (its last third, the hold at 5% of the
# peak lr; ``benchmarks/capacity_truth.py --judge`` prints it), not the last evaluation (2.057,
# 1.89, 1.95 before). Seed 0, the protocol's schedule shape at 1.5-5x a trial's budget, flat
# by its own rule (docs/capacity.md, "The ground truth"). Bits fall with N past the knee
# (cpu-xxs: 2.04 at 2x, 1.90 at 5.7x), so a model is compared at the N nearest its own.
GROUND_TRUTH: dict[tuple[str, int], float] = {
    ("cpu-xxs", 99): 2.036,  # 144,000 steps: 2,932 bits, mean over the hold
    ("cpu-xxs", 256): 1.896,  # 200,000 steps: 2,730 bits
    ("cpu-s", 512): 1.945,  # 150,000 steps: 8,591 bits
}
# The spread of a model's capacity over seeds under the protocol, measured and stored for models
# run with one seed (README command 1): relative standard deviation of bits/param, the runs it
# comes from, and what they were (docs/capacity.md, "Where the seed spread comes from").
SEED_SPREAD: dict[str, tuple[float, int, str]] = {
    # python sweeps/capacity.py --preset seeds: 9 runs, all saturated, 2.029 [1.959, 2.099]
    "cpu-xxs": (0.0447, 9, "3 data draws x 3 inits at 72,000 steps, N = 99"),
}
# what each capacity row carries from its trials: the preset, the vocab/tying/precision axes
# (model.name is the group's label, ``analysis.capacity.vocab``) and the parameter split
CARRIED = ["model.base", "data.vocab_size", "model.tie_embeddings", "optim.dtype", *SPLIT]


def ground_truth(model: str, n_seqs: float) -> tuple[float, int]:
    """(bits/param, N) of the model's long run at the N nearest ``n_seqs``; (nan, 0) if none."""
    if not n_seqs > 0:  # no N (nan), or none to compare at
        return math.nan, 0
    runs = [
        (abs(math.log(n / n_seqs)), bpp, n) for (m, n), bpp in GROUND_TRUTH.items() if m == model
    ]
    if not runs:
        return math.nan, 0
    _, bpp, n = min(runs)
    return bpp, n


def with_estimates(df: pd.DataFrame) -> pd.DataFrame:
    """The table with each trial's figure in ``bits_estimate``: its level (the mean of memorized
    bits over its judged window), or where the store predates the level the best of its
    evaluations; ``estimator`` says which."""
    df = df.copy()
    lvl = df[LEVEL] if LEVEL in df else pd.Series(np.nan, index=df.index, dtype=float)
    df["estimator"] = np.where(lvl.notna(), "level", "best of evaluations")
    df[BITS] = lvl.astype(float).fillna(df[BEST].astype(float))
    return df


def levels_from_history(df: pd.DataFrame, history: pd.DataFrame | None) -> pd.DataFrame:
    """Fill ``bits_memorized_level`` of trials whose store predates it, from their stored
    evaluations and their own judging window (``memtune.core.progress``): the same estimator
    the loop now reports, recomputed, never a different one."""
    need = ["trial_id", "step", "bits_memorized"]
    if history is None or "trial_id" not in df or not set(need) <= set(history):
        return df
    df = df.copy()
    if LEVEL not in df:
        df[LEVEL] = np.nan
    for i, r in df[df[LEVEL].isna()].iterrows():
        h = history[history["trial_id"] == r["trial_id"]].dropna(subset=["bits_memorized"])
        if h.empty or "saturation_window" not in r or pd.isna(r["saturation_window"]):
            continue
        h = h.sort_values("step")
        last = int(h["step"].iloc[-1])
        frac = float(r.get("saturation_fraction", 0.0) or 0.0)
        window = judging_window(last, int(r["saturation_window"]), frac)
        df.loc[i, LEVEL] = level(list(zip(h["step"], h["bits_memorized"], strict=True)), window)
    return df


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
    return ["model.name", *SEEDS, *(["optim.name"] if study else [])]


def with_seeds(df: pd.DataFrame) -> pd.DataFrame:
    """The table with ``data.seed`` and ``init_seed`` filled from ``seed`` where a trial left
    them to it (or its store predates them): a replicate is its data draw and its init."""
    df = df.copy()
    for col in SEEDS[1:]:
        df[col] = (df[col].fillna(df["seed"]) if col in df else df["seed"]).astype(int)
    return df


def seed_label(r: Any) -> str:
    """ "seed 1", or "data 1 init 2" when the two draws were seeded apart."""
    s, d, i = (int(r[k]) for k in SEEDS)
    return f"seed {s}" if d == i == s else f"data {d} init {i}"


def _rising(trial: pd.Series) -> str:
    gain = trial.get("recent_gain", float("nan"))
    return f", still rising {gain:+.1%} over its last window" if pd.notna(gain) else ""


def _judge_capacity(d: pd.DataFrame, best: pd.Series) -> tuple[str, str]:
    """(status, reason) of the capacity ``best`` sets among the trials ``d`` of one group."""
    bits = float(best[BITS])
    where = f"N={int(best['data.n_seqs'])}, efficiency {bits / best['bits_achievable']:.0%}"
    if (d["verdict"] == "unjudged").all():
        return LB_BUDGET, f"the store has no verdicts (written before them; best {where})"
    if best["verdict"] == "saturated":
        # a budget trial whose data holds more bits than the capacity could still pass it
        rivals = d[~d["verdict"].isin(EVIDENCE) & (d["bits_achievable"] > bits)]
        if rivals.empty:
            return CONVERGED, ""
        r = rivals.loc[rivals[BITS].idxmax()]
        below = 1 - r[BITS] / bits
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
        r = larger.loc[larger[BITS].idxmax()]
        return LB_DATA, (
            f"its best trial memorized its whole data set ({where}); the larger "
            f"N={int(r['data.n_seqs'])} saturated lower ({r[BITS]:,.0f} bits): "
            "bits fall past the knee, or that run was limited by its optimizer"
        )
    saturated = d.loc[d["verdict"] == "saturated", BITS]
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
    df = with_seeds(df if BITS in df else with_estimates(df))
    keys = group_keys(df)
    rows = []
    for key, d in df.groupby(keys, sort=False):
        best = d.loc[d[BITS].idxmax()]
        n_params = int(d["n_params"].iloc[0])
        status, reason = _judge_capacity(d, best)
        saturated = d.loc[d["verdict"] == "saturated", BITS]
        rows.append({
            **dict(zip(keys, key, strict=True)),
            "n_params": n_params,
            **{c: d[c].iloc[0] for c in CARRIED if c in d},
            "capacity_bits": float(best[BITS]),
            "bpp": float(best[BITS]) / n_params,
            "n_seqs_at_capacity": int(best["data.n_seqs"]),
            "efficiency_at_capacity": float(best[BITS] / best["bits_achievable"]),
            "verdict_at_capacity": str(best["verdict"]),
            # the share of entries its last step left unchanged (rounded-away updates in pure
            # bf16, memtune.core.precision); nan in stores that predate the count
            "frac_unchanged": float(best["frac_unchanged"]) if "frac_unchanged" in best
            else math.nan,
            "status": status,
            "plateau_reached": status == CONVERGED,
            "reason": reason,
            "max_seqs_memorized": int(d["seqs_memorized"].max()),
            "n_sizes": int(d["data.n_seqs"].nunique()),
            "n_budget": int((~d["verdict"].isin(EVIDENCE)).sum()),
            "best_saturated_bits": float(saturated.max()) if len(saturated) else float("nan"),
        })  # fmt: skip
    return pd.DataFrame(rows).sort_values(["n_params", *SEEDS]).reset_index(drop=True)


def seed_spread(name: str, bpp: pd.Series) -> tuple[float, int, str]:
    """(relative sd of bits/param over seeds, runs it rests on, its source) for a model: its own
    seeds when it has two or more, else the spread stored for that model (``SEED_SPREAD``),
    else (nan, 0, "not measured")."""
    if len(bpp) >= 2:
        return float(bpp.std(ddof=1) / bpp.mean()), len(bpp), "its own seeds"
    if name in SEED_SPREAD:
        return SEED_SPREAD[name]
    return math.nan, 0, "not measured"


def per_model(cap: pd.DataFrame) -> pd.DataFrame:
    """Each model's capacity and bits per parameter, the figure to compare with 3.6.

    The model's capacity is the mean over its seeds: each converged seed is a sample of what the
    protocol stores (seeds flat at different levels are its spread, measured in the 3 x 3
    data/init design), with a 95% t interval when two or more seeds converged. When any seed is
    a lower bound the mean counts it at its bound and is itself a bound (``bound`` ">=", no
    interval): a mean over the converged seeds alone could fall below what the data bound.
    ``bpp_best_seed`` is the best seed (``best_seed_bound`` ">=" when that seed is a bound), a
    diagnostic of what one draw reached, not the capacity. ``seed_sd`` is the seeds' relative
    standard deviation (``seed_spread``: own seeds, or the stored one for this model size).
    ``vs_ground_truth`` is the mean against the long run at the N nearest its capacities'
    (``ground_truth``, the same estimator), where one was measured and the mean is no bound."""
    rows = []
    for name, d in cap.groupby("model.name", sort=False):
        conv = d[d["plateau_reached"]]
        bounded = len(conv) < len(d)
        if bounded:
            c, c_lo, c_hi = float(d["capacity_bits"].mean()), math.nan, math.nan
            b, b_lo, b_hi = float(d["bpp"].mean()), math.nan, math.nan
        else:
            c, c_lo, c_hi = mean_ci95(d["capacity_bits"])
            b, b_lo, b_hi = mean_ci95(d["bpp"])
        top = d.loc[d["bpp"].idxmax()]
        sd, n_sd, sd_source = seed_spread(str(name), conv["bpp"] if not bounded else d["bpp"])
        if bounded and len(d) >= 2:  # a spread over bounds is no spread of capacities
            sd, n_sd, sd_source = SEED_SPREAD.get(str(name), (math.nan, 0, "not measured"))
        truth, truth_n = ground_truth(str(name), float(d["n_seqs_at_capacity"].median()))
        rows.append({
            "model.name": name, "n_params": int(d["n_params"].iloc[0]), "n_seeds": len(d),
            "n_converged": len(conv), "n_bound": len(d) - len(conv),
            "bound": ">=" if bounded else "",
            "capacity_bits": c, "capacity_ci95_low": c_lo, "capacity_ci95_high": c_hi,
            "bpp": b, "bpp_ci95_low": b_lo, "bpp_ci95_high": b_hi,
            "bpp_best_seed": float(top["bpp"]), "best_seed": seed_label(top),
            "best_seed_bound": "" if top["plateau_reached"] else ">=",
            "bpp_seed_min": float(d["bpp"].min()), "bpp_seed_max": float(d["bpp"].max()),
            "seed_sd": sd, "seed_sd_runs": n_sd, "seed_sd_source": sd_source,
            "ground_truth_bpp": truth, "ground_truth_n_seqs": truth_n,
            "vs_ground_truth": math.nan if bounded else b / truth - 1,  # a bound decides nothing
            "max_seqs_memorized": int(d["max_seqs_memorized"].max()),
            "plateau_reached": not bounded,
        })  # fmt: skip
    return pd.DataFrame(rows).sort_values("n_params").reset_index(drop=True)


def left_out(cap: pd.DataFrame) -> list[dict[str, Any]]:
    """Every (model, seed) the fit leaves out, with the reason."""
    return [
        {"model.name": r["model.name"], "seed": int(r["seed"]), "replicate": seed_label(r),
         "status": r["status"], "capacity_bits": r["capacity_bits"], "reason": r["reason"]}
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


def falls_past_knee(df: pd.DataFrame, cap: pd.DataFrame) -> list[str]:
    """Saturated trials past the capacity's dataset size that stored > FALL_TOL less than it:
    bits falling with N, which a converged protocol should not show."""
    df = with_seeds(df if BITS in df else with_estimates(df))
    out = []
    for _, c in cap[cap["plateau_reached"]].iterrows():
        same = [df[k] == c[k] for k in ["model.name", *SEEDS]]
        d = df[np.logical_and.reduce(same)]
        past = d[(d["data.n_seqs"] > c["n_seqs_at_capacity"]) & (d["verdict"] == "saturated")]
        for _, r in past.iterrows():
            drop = 1 - r[BITS] / c["capacity_bits"]
            if drop > FALL_TOL:
                out.append(
                    f"{c['model.name']} {seed_label(c)}: N={int(r['data.n_seqs'])} saturated "
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
            f"left out of the fit: {r['model.name']} {r['replicate']} ({r['status']}): "
            f"{r['reason']}"
        )
    if (df["estimator"] != "level").any():
        old = df.loc[df["estimator"] != "level", "model.name"].astype(str).unique()
        warnings.append(
            f"{(df['estimator'] != 'level').sum()} trial(s) ({', '.join(old)}) predate the level "
            "estimator and give the best of their evaluations, biased up by their swing (~2%)"
        )
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
    designs = seed_designs(cap)
    if designs:
        summary["seed_designs"] = designs
    return summary


def _num(v: Any, fmt: str) -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, fmt)


def _spread(m: dict[str, Any]) -> str:
    sd = m.get("seed_sd")
    if sd is None or (isinstance(sd, float) and math.isnan(sd)):
        return "not measured"
    src = m["seed_sd_source"]
    runs = m["seed_sd_runs"]
    if src == "its own seeds":
        return f"+-{sd:.1%} ({runs} seeds)"
    return f"+-{sd:.1%} (stored, {runs})"


def _model_row(m: dict[str, Any], w: int) -> str:
    """One model's line: its mean over seeds with interval, best seed, seed spread, truth."""
    one = m["n_seeds"] == 1
    ci = "(1 seed)" if one else (
        f"[{_num(m['capacity_ci95_low'], ',.0f')}, {_num(m['capacity_ci95_high'], ',.0f')}]"
    )  # fmt: skip
    bci = "(1 seed)" if one else (
        f"[{_num(m['bpp_ci95_low'], '.3f')}, {_num(m['bpp_ci95_high'], '.3f')}]"
    )  # fmt: skip
    if m["bound"]:
        ci = bci = f"({m['n_bound']} bound)"
    truth = m.get("ground_truth_bpp")
    gt = "-" if truth is None or math.isnan(truth) else (
        f"{truth:.3f} (not compared)" if m["bound"] else
        f"{truth:.3f} at N={m['ground_truth_n_seqs']} ({m['vs_ground_truth']:+.1%})"
    )  # fmt: skip
    best = m.get("best_seed_bound", "") + format(m.get("bpp_best_seed", math.nan), ".3f")
    return (
        f"  {m['model.name']:<{w}}{m['n_params']:>8,}"
        f"{str(m['n_converged']) + '/' + str(m['n_seeds']):>7}"
        f"{m['bound'] + format(m['capacity_bits'], ',.0f'):>15}{ci:>18}"
        f"{m['bound'] + format(m['bpp'], '.3f'):>12}{bci:>16}{best:>11}  {_spread(m):<28}"
        f"{gt:<22}"
    )


def headline(summary: dict[str, Any]) -> list[str]:
    """One line per model a reader can compare with a rerun: the figure and how far seeds move
    it ("cpu-xxs: 2.09 bits/param (seed spread +-6%, 9 seeds measured)")."""
    out = []
    for m in summary.get("models", []):
        sd = m.get("seed_sd")
        if sd is None or (isinstance(sd, float) and math.isnan(sd)):
            spread = "seed spread not measured: a rerun on another machine moves it like a seed"
        else:
            runs = m["seed_sd_runs"]
            how = f"over its {runs} seeds" if m["seed_sd_source"] == "its own seeds" else (
                f"{runs} seeds measured"
            )  # fmt: skip
            spread = f"seed spread +-{sd:.0%}, {how}"
        n = m["n_seeds"]
        out.append(
            f"  {m['model.name']}: {m['bound']}{m['bpp']:.3f} bits/param over {n} seed"
            f"{'s' if n > 1 else ''} ({spread})"
        )
    return out


def format_report(summary: dict[str, Any]) -> str:
    study = (
        format_protocol(summary["protocol"], summary.get("protocol_comparisons"))
        if "protocol" in summary
        else ""
    )
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
        f"  {'model':<{w}}{'params':>8}{'seeds':>7}{'capacity bits':>15}{'95% CI':>18}"
        f"{'bits/param':>12}{'95% CI':>16}{'best seed':>11}  {'seed spread':<28}"
        f"{'ground truth':<22}",
    ]
    for m in summary["models"]:
        lines.append(_model_row(m, w))
    lines.append(
        "  bits/param = the mean over the model's seeds of each one's level (the mean of its "
        "memorized bits over its judged window); '>=' = a seed is a lower bound, counted at its "
        "bound; seeds = converged/all; seed spread = relative sd over seeds"
    )
    lines += ["", "  per model, with how far a rerun moves it:", *headline(summary)]
    lines += [f"  warning: {w}" for w in summary["warnings"]]
    if "seed_designs" in summary:
        lines += ["", format_seed_designs(summary["seed_designs"])]
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
        "bpp": df[BITS] / df["n_params"],
        "efficiency": df[BITS] / df["bits_achievable"],
        "bpp_best_eval": df[BEST] / df["n_params"],
        "verdict": verdict, "decay_start": df.get("decay_start", -1),
        "recent_gain": df.get("recent_gain", math.nan),
    })  # fmt: skip
    return t.sort_values(["model.name", "bpp"], ascending=[True, False]).reset_index(drop=True)


def protocol_comparisons(study: pd.DataFrame) -> list[dict[str, Any]]:
    """Each setting against the study's reference (``wsd`` if there, else the first setting),
    per model, by the comparison rule (``analysis.common.compare``): seeds paired across
    settings (one seed is one data draw and one init for every setting), on finished trials;
    a budget trial counts at its bound."""
    done = study[~study["verdict"].astype(str).str.startswith("incomplete")]
    out = []
    for model, d in done.groupby("model.name", sort=False):
        settings = list(dict.fromkeys(d["setting"]))
        ref = "wsd" if "wsd" in settings else settings[0]
        base = d[d["setting"] == ref].set_index("seed")
        for other in (x for x in settings if x != ref):
            o = d[d["setting"] == other].set_index("seed")
            seeds = sorted(set(base.index) & set(o.index))
            c = compare(
                o.loc[seeds, "bpp"], base.loc[seeds, "bpp"], paired=True,
                a_bounds=o.loc[seeds, "verdict"] == "budget",
                b_bounds=base.loc[seeds, "verdict"] == "budget",
            )  # fmt: skip
            out.append({"model.name": model, "setting": other, "reference": ref, **c.as_dict(),
                        "text": c.text()})  # fmt: skip
    return out


def format_protocol(rows: list[dict[str, Any]], comparisons: list[dict] | None = None) -> str:
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
            f"{_num(r['cpu_seconds'], '.0f'):>8}{_num(r['bpp'], '.3f'):>12}"
            f"{_num(r['efficiency'], '.2f'):>6}{r['verdict']:>11}"
            f"{_num(r['decay_start'], '.0f'):>10}{_num(r['recent_gain'], '+.1%'):>11}"
        )
    if incomplete:
        lines.append(
            f"  incomplete: {len(incomplete)} trial(s) did not finish, their figures are partial: "
            + "; ".join(incomplete)
        )
    if comparisons:
        lines.append("  each setting minus the reference, bits/param, seeds paired:")
        lines += [
            f"    {c['model.name']} {c['setting']} - {c['reference']}: {c['text']}"
            for c in comparisons
        ]
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
    study = protocol_table(with_estimates(with_verdicts(df)))
    df, unfinished = finished_trials(df)  # the shared rule: only trials that ended normally
    if df.empty:
        msg = "capacity analysis: no finished trials to analyse"
        raise UsageError(with_incomplete(msg, unfinished, n_trials))
    df = with_seeds(with_estimates(with_group_labels(with_verdicts(df))))
    df["data.n_seqs"] = df["data.n_seqs"].astype(int)
    # the whole protocol: equal over a model's seeds, and across models but for what tells
    # groups apart and each model's step budget (check_across says which fields those are)
    groups = [k for k in group_keys(df) if k not in SEEDS]
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
        summary = {
            "protocol": rows,
            "protocol_comparisons": protocol_comparisons(study),
            **completeness(df, unfinished),
        }
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


def _history(path: str) -> pd.DataFrame | None:
    """``load_histories``, or None when no trial has reported yet (the table says the rest)."""
    try:
        return load_histories(path)
    except UsageError:
        return None


def run(path: str, out: Path) -> tuple[str, list[str]]:
    table = load_table(path)
    # stores written before the loop reported its level get it from their evaluations
    needs_level = LEVEL not in table or table[LEVEL].isna().any()
    history = _history(path) if needs_level else None
    summary = analyze(levels_from_history(table, history), out)
    if "protocol" in summary:
        from analysis.capacity.plots import plot_protocol

        history = history if history is not None else _history(path)
        if history is not None and "optim.name" in history:
            plot_protocol(history).savefig(out / "protocol.png", dpi=120)
            summary["outputs"].append(str(out / "protocol.png"))
    return format_report(summary), summary["outputs"]


analyze_experiment, main = analysis_cli("capacity", __doc__, run)
