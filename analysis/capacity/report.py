"""Capacity analysis (seed 002): plateau of memorized bits, linear fit vs parameters.

Reads a capacity experiment (or a plain table with the same columns), never trains:

    python -m analysis.capacity results/capacity_default_20261122-061500
    python -m analysis.capacity my_runs.csv --out figures/

Capacity of a (model, seed) is the plateau of ``bits_memorized_best`` over dataset sizes (and
learning rates, when swept): the most bits that model stored about any data set it was given.
Every trial carries a verdict from its loop (``memtune.experiments.capacity.loop.verdict``):
``memorized`` (the data was the limit), ``saturated`` (bits flat at an annealed lr: the model
was the limit) or ``budget`` (stopped while still rising). Capacity is taken over memorized and
saturated trials only, and it is converged (``plateau_reached``) only when its best trial is
saturated; otherwise it is a lower bound and the report says why. The fit of capacity vs
parameters (bits per parameter) uses converged capacities only, unless fewer than two model
sizes have one, when it falls back to every capacity and says so.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.common.cli import analysis_cli
from analysis.common.fit import FitResult, fit_linear, mean_ci95
from analysis.common.load import (
    TABLE_SUFFIXES,
    check_one_experiment,
    completeness,
    finished_trials,
    incomplete_note,
    load_table,
    require_columns,
    with_incomplete,
)
from memtune.core.cli import UsageError
from memtune.experiments.capacity.config import TrainConfig

REQUIRED = [
    "model.name", "data.n_seqs", "seed", "n_params",
    "bits_memorized_best", "bits_achievable", "seqs_memorized",
]  # fmt: skip
# what a (model, seed) takes its capacity over; every other config field must be equal in it
# (knee_multiple places N per model; the protocol study's settings are told apart by optim.name)
VARIED = ["data.n_seqs", "knee_multiple", "optim.lr", "optim.lr_scale"]
EVIDENCE = ("memorized", "saturated")  # verdicts whose bits are converged measurements
# past the knee, a saturated trial storing this much less than the capacity marks bits falling
# with N beyond seed noise (measured 10-15% run to run on cpu-*)
FALL_TOL = 0.15


def with_verdicts(df: pd.DataFrame) -> pd.DataFrame:
    """The table with a ``verdict`` per trial; stores written before verdicts get "unjudged"."""
    df = df.copy()
    if "verdict" not in df:
        df["verdict"] = "unjudged"
    df["verdict"] = df["verdict"].fillna("").replace("", "unjudged")
    return df


def capacity_status(best_verdict: str, has_evidence: bool) -> str:
    """How far to trust a capacity: "converged" when its best trial saturated; otherwise a
    lower bound, named by what limited it (the data set, or the step budget)."""
    if not has_evidence:
        return "lower bound: budget"
    return "converged" if best_verdict == "saturated" else "lower bound: data"


def capacities(df: pd.DataFrame) -> pd.DataFrame:
    """One row per (model, seed): capacity as the plateau over dataset sizes.

    Capacity is the most bits any trial stored: a model holds at least what it was measured
    to hold. It is converged only when that trial saturated; when a trial stopped by its budget
    stored more than every saturated one, the capacity is that trial's bits and a lower bound
    (the saturated runs ended on a lower plateau, or bits fall with N).

    Returns columns model.name, seed, n_params, capacity_bits, bpp, n_seqs_at_capacity,
    efficiency_at_capacity, verdict_at_capacity, status, plateau_reached, max_seqs_memorized,
    n_sizes, n_budget, best_saturated_bits.
    """
    rows = []
    for (name, seed), d in df.groupby(["model.name", "seed"], sort=False):
        evidence = d[d["verdict"].isin(EVIDENCE)]
        best = d.loc[d["bits_memorized_best"].idxmax()]
        n_params = int(d["n_params"].iloc[0])
        eff = float(best["bits_memorized_best"] / best["bits_achievable"])
        judged = str(best["verdict"]) in EVIDENCE
        status = capacity_status(str(best["verdict"]), judged)
        saturated = evidence.loc[evidence["verdict"] == "saturated", "bits_memorized_best"]
        rows.append({
            "model.name": name,
            "seed": seed,
            "n_params": n_params,
            "capacity_bits": float(best["bits_memorized_best"]),
            "bpp": float(best["bits_memorized_best"]) / n_params,
            "n_seqs_at_capacity": int(best["data.n_seqs"]),
            "efficiency_at_capacity": eff,
            "verdict_at_capacity": str(best["verdict"]),
            "status": status,
            "plateau_reached": status == "converged",
            "max_seqs_memorized": int(d["seqs_memorized"].max()),
            "n_sizes": int(d["data.n_seqs"].nunique()),
            "n_budget": int((~d["verdict"].isin(EVIDENCE)).sum()),
            "best_saturated_bits": float(saturated.max()) if len(saturated) else float("nan"),
        })  # fmt: skip
    return pd.DataFrame(rows).sort_values(["n_params", "seed"]).reset_index(drop=True)


def per_model(cap: pd.DataFrame) -> pd.DataFrame:
    """Capacity and bits per parameter by model: mean and 95% interval over seeds."""
    rows = []
    for name, d in cap.groupby("model.name", sort=False):
        c, c_lo, c_hi = mean_ci95(d["capacity_bits"])
        b, b_lo, b_hi = mean_ci95(d["bpp"])
        rows.append({
            "model.name": name, "n_params": int(d["n_params"].iloc[0]), "n_seeds": len(d),
            "capacity_bits": c, "capacity_ci95_low": c_lo, "capacity_ci95_high": c_hi,
            "bpp": b, "bpp_ci95_low": b_lo, "bpp_ci95_high": b_hi,
            "max_seqs_memorized": int(d["max_seqs_memorized"].max()),
            "plateau_reached": bool(d["plateau_reached"].all()),
            "n_converged": int(d["plateau_reached"].sum()),
        })  # fmt: skip
    return pd.DataFrame(rows).sort_values("n_params").reset_index(drop=True)


def fit_points(cap: pd.DataFrame) -> pd.DataFrame:
    """The (model, seed) capacities the fit uses: the converged ones, when at least two model
    sizes have one; otherwise all of them (the fit is then itself a lower bound)."""
    converged = cap[cap["plateau_reached"]]
    return converged if converged["n_params"].nunique() >= 2 else cap


def fit_capacity(cap: pd.DataFrame) -> FitResult:
    """capacity_bits = slope * n_params + intercept over the (model, seed) points given."""
    if cap["n_params"].nunique() < 2:
        raise UsageError(
            f"capacity fit needs at least 2 model sizes, got {cap['n_params'].nunique()}"
        )
    return fit_linear(cap["n_params"].to_numpy(), cap["capacity_bits"].to_numpy())


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


def lower_bound_reason(row: pd.Series, df: pd.DataFrame) -> str:
    """Why a capacity that is not converged is only a lower bound, and what would fix it."""
    d = df[(df["model.name"] == row["model.name"]) & (df["seed"] == row["seed"])]
    where = f"N={row['n_seqs_at_capacity']}, efficiency {row['efficiency_at_capacity']:.0%}"
    if row["status"] == "lower bound: data":
        return f"every converged trial memorized its whole data set ({where}); add larger n_seqs"
    if (d["verdict"] == "unjudged").all():
        return f"the store has no verdicts (written before them; best {where})"
    best = d.loc[d["bits_memorized_best"].idxmax()]
    gain = best.get("recent_gain", float("nan"))
    rising = f", still rising {gain:+.1%} over its last window" if pd.notna(gain) else ""
    if pd.notna(row.get("best_saturated_bits", float("nan"))):
        less = 1 - row["best_saturated_bits"] / row["capacity_bits"]
        return (
            f"its best trial ({where}) ran out of steps{rising}; its saturated trials stored "
            f"{less:.0%} less"
        )
    return f"no trial memorized or saturated; its best ({where}) ran out of steps{rising}"


def summarize(df: pd.DataFrame, cap: pd.DataFrame, models: pd.DataFrame, fit: FitResult) -> dict:
    warnings = []
    if fit.n_points < 4:
        warnings.append(f"fit rests on {fit.n_points} points; intervals are wide")
    fit_on_all = not (cap["plateau_reached"].sum() == fit.n_points)
    if fit_on_all:
        warnings.append(
            "fewer than 2 model sizes have a converged capacity: the fit uses lower bounds, so "
            "bits per parameter is a lower bound too"
        )
    for _, row in cap[~cap["plateau_reached"]].iterrows():
        warnings.append(
            f"lower bound: {row['model.name']} seed {row['seed']}: {lower_bound_reason(row, df)}"
        )
    warnings += [f"bits fall past the knee: {w}" for w in falls_past_knee(df, cap)]
    slope = fit.as_dict()
    counts = df["verdict"].value_counts()
    return {
        "bits_per_param": slope["slope"],
        "bits_per_param_ci95": [slope["slope_ci95_low"], slope["slope_ci95_high"]],
        "intercept_bits": slope["intercept"],
        "intercept_ci95": [slope["intercept_ci95_low"], slope["intercept_ci95_high"]],
        "r2": fit.r2,
        "n_points": fit.n_points,
        "fit_on": "lower bounds" if fit_on_all else "converged capacities",
        "n_trials": int(len(df)),
        "verdicts": {str(k): int(v) for k, v in counts.items()},
        "models": models.to_dict(orient="records"),
        "warnings": warnings,
    }


def format_report(summary: dict[str, Any]) -> str:
    study = format_protocol(summary["protocol"]) if "protocol" in summary else ""
    if "bits_per_param" not in summary:
        return study
    lo, hi = summary["bits_per_param_ci95"]
    verdicts = ", ".join(f"{n} {v}" for v, n in summary.get("verdicts", {}).items())
    lines = [
        f"capacity fit over {summary['n_points']} (model, seed) points from "
        f"{summary['n_trials']} trials:",
        f"  bits per parameter = {summary['bits_per_param']:.3f}  95% CI [{lo:.3f}, {hi:.3f}]"
        "   (Morris et al.: 3.6)",
        f"  intercept = {summary['intercept_bits']:.0f} bits   R2 = {summary['r2']:.4f}   "
        f"fitted on {summary.get('fit_on', 'every capacity')}",
        f"  trial verdicts: {verdicts}",
        "",
        f"  {'model':<10}{'params':>10}{'capacity bits':>16}{'95% CI':>22}{'bits/param':>12}"
        f"{'max seqs':>10}{'converged':>11}",
    ]
    for m in summary["models"]:
        ci = f"[{m['capacity_ci95_low']:.0f}, {m['capacity_ci95_high']:.0f}]"
        n_conv = m.get("n_converged", int(m["plateau_reached"]) * m["n_seeds"])
        converged = f"{n_conv}/{m['n_seeds']}" + ("" if n_conv == m["n_seeds"] else " LB")
        if math.isnan(m["capacity_ci95_low"]):
            ci = "(1 seed)"
        lines.append(
            f"  {m['model.name']:<10}{m['n_params']:>10,}{m['capacity_bits']:>16,.0f}{ci:>22}"
            f"{m['bpp']:>12.3f}{m['max_seqs_memorized']:>10}{converged:>11}"
        )
    lines.append("  converged = seeds whose capacity rests on a saturated trial; LB = lower bound")
    lines += [f"  warning: {w}" for w in summary["warnings"]]
    return "\n".join(lines + ([""] + [study] if study else []))


def protocol_table(df: pd.DataFrame) -> pd.DataFrame | None:
    """The protocol study's table, one row per trial, best bits/param first; None unless the
    trials name more than one optimizer setting (``optim.name``).

    CPU seconds are train_seconds + eval_seconds: what the trial cost, whether it stopped on its
    verdict or at the step cap.
    """
    if "optim.name" not in df or df["optim.name"].fillna("").nunique() < 2:
        return None
    t = pd.DataFrame({
        "setting": df["optim.name"], "model.name": df["model.name"], "seed": df["seed"],
        "n_seqs": df["data.n_seqs"], "steps": df["step"],
        "cpu_seconds": df["train_seconds"] + df["eval_seconds"],
        "bpp_best": df["bits_memorized_best"] / df["n_params"],
        "efficiency_best": df["bits_memorized_best"] / df["bits_achievable"],
        "verdict": df["verdict"], "decay_start": df.get("decay_start", -1),
        "recent_gain": df.get("recent_gain", float("nan")),
    })  # fmt: skip
    return t.sort_values(["model.name", "bpp_best"], ascending=[True, False]).reset_index(drop=True)


def format_protocol(rows: list[dict[str, Any]]) -> str:
    lines = [
        "protocol study (one trial per setting; CPU s = train + eval seconds):",
        f"  {'setting':<10}{'model':<9}{'N':>5}{'steps':>8}{'CPU s':>8}{'bits/param':>12}"
        f"{'eff':>6}{'verdict':>11}{'decay at':>10}{'last gain':>11}",
    ]
    for r in rows:
        lines.append(
            f"  {r['setting']:<10}{r['model.name']:<9}{r['n_seqs']:>5}{r['steps']:>8}"
            f"{r['cpu_seconds']:>8.0f}{r['bpp_best']:>12.3f}{r['efficiency_best']:>6.2f}"
            f"{r['verdict']:>11}{r['decay_start']:>10}{r['recent_gain']:>+11.1%}"
        )
    return "\n".join(lines)


def analyze(df: pd.DataFrame, out: Path, seq_len: int | None = None) -> dict[str, Any]:
    """Fit, write table/summary/plots under ``out``, and return the summary.

    A protocol study (several named optimizer settings) also gets ``protocol.csv`` and its
    table; with a single model size it gets only that (there is no capacity line to fit).
    """
    from analysis.capacity.plots import plot_bits_per_param, plot_bits_vs_dataset, plot_capacity_fit

    require_columns(df, REQUIRED, "capacity analysis")
    n_trials = len(df)
    df, unfinished = finished_trials(df)  # the shared rule: only trials that ended normally
    df = with_verdicts(df)
    if "n_seqs" in df:  # the N a trial trained on (knee_multiple derives it from the model)
        df["data.n_seqs"] = df["n_seqs"].fillna(df["data.n_seqs"]).astype(int)
    if df.empty:
        msg = "capacity analysis: no finished trials to analyse"
        raise UsageError(with_incomplete(msg, unfinished, n_trials))
    by = ["model.name", "seed", *(["optim.name"] if "optim.name" in df else [])]
    check_one_experiment(df, TrainConfig, by, VARIED, "capacity analysis")
    bad = df[(df["n_params"] <= 0) | (df["data.n_seqs"] <= 0)]
    if not bad.empty:
        raise UsageError("capacity analysis: n_params and data.n_seqs must be > 0 in every row")
    out.mkdir(parents=True, exist_ok=True)
    study = protocol_table(df)
    if study is not None:
        study.to_csv(out / "protocol.csv", index=False)
        if df["n_params"].nunique() < 2:
            df.to_csv(out / "table.csv", index=False)
            rows = study.to_dict(orient="records")
            (out / "protocol.json").write_text(json.dumps(rows, indent=2, default=float))
            return {
                "protocol": rows,
                "outputs": [str(out / f) for f in ["table.csv", "protocol.csv", "protocol.json"]],
            }
    cap = capacities(df)
    models = per_model(cap)
    try:
        fit = fit_capacity(fit_points(cap))
    except UsageError as e:
        raise UsageError(with_incomplete(str(e), unfinished, n_trials)) from None
    summary = summarize(df, cap, models, fit)
    summary.update(completeness(df, unfinished))
    if unfinished:
        summary["warnings"].insert(0, incomplete_note(unfinished, n_trials))
    if study is not None:
        summary["protocol"] = study.to_dict(orient="records")
    df.to_parquet(out / "table.parquet")
    df.to_csv(out / "table.csv", index=False)
    cap.to_csv(out / "capacity.csv", index=False)
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=float))
    if seq_len is None:
        seq_len = int(df["data.seq_len"].iloc[0]) if "data.seq_len" in df else 64
    figures = {
        "bits_vs_dataset.png": plot_bits_vs_dataset(df, cap, seq_len),
        "capacity_vs_params.png": plot_capacity_fit(cap, fit),
        "bits_per_param.png": plot_bits_per_param(models),
    }
    for fname, fig in figures.items():
        fig.savefig(out / fname, dpi=120)
    summary["outputs"] = [
        str(out / f)
        for f in ["table.parquet", "table.csv", "capacity.csv", "summary.json", *figures]
    ] + ([str(out / "protocol.csv")] if study is not None else [])
    return summary


def load_histories(path: str) -> pd.DataFrame | None:
    """Every report of every trial of an experiment (one row per evaluation), or None for a
    plain table: the protocol figure draws bits/param against CPU-seconds along each run."""
    p = Path(path)
    if p.suffix in TABLE_SUFFIXES or not p.is_dir():
        return None
    from ray.tune import ExperimentAnalysis

    ea = ExperimentAnalysis(str(p.expanduser().resolve()))
    frames = [df.assign(trial_id=tid) for tid, df in ea.trial_dataframes.items() if not df.empty]
    if not frames:
        return None
    df = pd.concat(frames, ignore_index=True)
    return df.rename(columns=lambda c: c.removeprefix("config/").replace("/", "."))


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
