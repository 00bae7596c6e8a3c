"""Capacity analysis (seed 002): plateau of memorized bits, linear fit vs parameters.

Reads a capacity experiment (or a plain table with the same columns), never trains:

    python -m analysis.capacity results/capacity_default_20261122-061500
    python -m analysis.capacity my_runs.csv --out figures/

Capacity of a (model, seed) is the plateau of ``bits_memorized_best`` over dataset sizes (and
learning rates, when swept): the most bits that model stored about any data set it was given.
It is only a capacity when the model could not memorize that whole data set (efficiency < 0.9
at the best size, ``plateau_reached``); otherwise the data, not the model, was the limit and the
value is a lower bound. The slope of capacity vs parameters is bits per parameter.
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
PLATEAU_EFFICIENCY = 0.9  # below this share of the achievable, the model (not the data) limits
# what a (model, seed) takes its plateau over; every other config field must be equal in it
VARIED = ["data.n_seqs", "optim.lr", "optim.lr_scale"]


def capacities(df: pd.DataFrame) -> pd.DataFrame:
    """One row per (model, seed): capacity as the plateau over dataset sizes.

    Returns columns model.name, seed, n_params, capacity_bits, bpp, n_seqs_at_capacity,
    efficiency_at_capacity, plateau_reached, max_seqs_memorized, n_sizes.
    """
    rows = []
    for (name, seed), d in df.groupby(["model.name", "seed"], sort=False):
        best = d.loc[d["bits_memorized_best"].idxmax()]
        n_params = int(d["n_params"].iloc[0])
        eff = float(best["bits_memorized_best"] / best["bits_achievable"])
        rows.append({
            "model.name": name,
            "seed": seed,
            "n_params": n_params,
            "capacity_bits": float(best["bits_memorized_best"]),
            "bpp": float(best["bits_memorized_best"]) / n_params,
            "n_seqs_at_capacity": int(best["data.n_seqs"]),
            "efficiency_at_capacity": eff,
            "plateau_reached": eff < PLATEAU_EFFICIENCY,
            "max_seqs_memorized": int(d["seqs_memorized"].max()),
            "n_sizes": int(d["data.n_seqs"].nunique()),
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
        })  # fmt: skip
    return pd.DataFrame(rows).sort_values("n_params").reset_index(drop=True)


def fit_capacity(cap: pd.DataFrame) -> FitResult:
    """capacity_bits = slope * n_params + intercept over every (model, seed) point."""
    if cap["n_params"].nunique() < 2:
        raise UsageError(
            f"capacity fit needs at least 2 model sizes, got {cap['n_params'].nunique()}"
        )
    return fit_linear(cap["n_params"].to_numpy(), cap["capacity_bits"].to_numpy())


def summarize(df: pd.DataFrame, cap: pd.DataFrame, models: pd.DataFrame, fit: FitResult) -> dict:
    warnings = []
    if fit.n_points < 4:
        warnings.append(f"fit rests on {fit.n_points} points; intervals are wide")
    largest = df.groupby(["model.name", "seed"])["data.n_seqs"].max()
    for _, row in cap[~cap["plateau_reached"]].iterrows():
        at_largest = row["n_seqs_at_capacity"] == largest[(row["model.name"], row["seed"])]
        why = (
            "add larger n_seqs"
            if at_largest
            else "larger data sets stored fewer bits, so their runs were too short (more steps)"
        )
        warnings.append(
            f"no plateau for {row['model.name']} seed {row['seed']}: it memorized "
            f"{row['efficiency_at_capacity']:.0%} of its best data set "
            f"(N={row['n_seqs_at_capacity']}), so its capacity is a lower bound; {why}"
        )
    slope = fit.as_dict()
    return {
        "bits_per_param": slope["slope"],
        "bits_per_param_ci95": [slope["slope_ci95_low"], slope["slope_ci95_high"]],
        "intercept_bits": slope["intercept"],
        "intercept_ci95": [slope["intercept_ci95_low"], slope["intercept_ci95_high"]],
        "r2": fit.r2,
        "n_points": fit.n_points,
        "n_trials": int(len(df)),
        "models": models.to_dict(orient="records"),
        "warnings": warnings,
    }


def format_report(summary: dict[str, Any]) -> str:
    lo, hi = summary["bits_per_param_ci95"]
    lines = [
        f"capacity fit over {summary['n_points']} (model, seed) points from "
        f"{summary['n_trials']} trials:",
        f"  bits per parameter = {summary['bits_per_param']:.3f}  95% CI [{lo:.3f}, {hi:.3f}]"
        "   (Morris et al.: 3.6)",
        f"  intercept = {summary['intercept_bits']:.0f} bits   R2 = {summary['r2']:.4f}",
        "",
        f"  {'model':<10}{'params':>10}{'capacity bits':>16}{'95% CI':>22}{'bits/param':>12}"
        f"{'max seqs':>10}{'plateau':>9}",
    ]
    for m in summary["models"]:
        ci = f"[{m['capacity_ci95_low']:.0f}, {m['capacity_ci95_high']:.0f}]"
        plateau = "yes" if m["plateau_reached"] else "NO"
        if math.isnan(m["capacity_ci95_low"]):
            ci = "(1 seed)"
        lines.append(
            f"  {m['model.name']:<10}{m['n_params']:>10,}{m['capacity_bits']:>16,.0f}{ci:>22}"
            f"{m['bpp']:>12.3f}{m['max_seqs_memorized']:>10}{plateau:>9}"
        )
    lines += [f"  warning: {w}" for w in summary["warnings"]]
    return "\n".join(lines)


def analyze(df: pd.DataFrame, out: Path, seq_len: int | None = None) -> dict[str, Any]:
    """Fit, write table/summary/plots under ``out``, and return the summary."""
    from analysis.capacity.plots import plot_bits_per_param, plot_bits_vs_dataset, plot_capacity_fit

    require_columns(df, REQUIRED, "capacity analysis")
    n_trials = len(df)
    df, unfinished = finished_trials(df)  # the shared rule: only trials that ended normally
    if df.empty:
        msg = "capacity analysis: no finished trials to analyse"
        raise UsageError(with_incomplete(msg, unfinished, n_trials))
    check_one_experiment(df, TrainConfig, ["model.name", "seed"], VARIED, "capacity analysis")
    bad = df[(df["n_params"] <= 0) | (df["data.n_seqs"] <= 0)]
    if not bad.empty:
        raise UsageError("capacity analysis: n_params and data.n_seqs must be > 0 in every row")
    cap = capacities(df)
    models = per_model(cap)
    try:
        fit = fit_capacity(cap)
    except UsageError as e:
        raise UsageError(with_incomplete(str(e), unfinished, n_trials)) from None
    summary = summarize(df, cap, models, fit)
    summary.update(completeness(df, unfinished))
    if unfinished:
        summary["warnings"].insert(0, incomplete_note(unfinished, n_trials))
    out.mkdir(parents=True, exist_ok=True)
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
    ]
    return summary


def run(path: str, out: Path) -> tuple[str, list[str]]:
    summary = analyze(load_table(path), out)
    return format_report(summary), summary["outputs"]


analyze_experiment, main = analysis_cli("capacity", __doc__, run)
