"""Memorization scaling-law analysis (seed 000): fit log P(z) over epochs and seed-set size.

Reads a scaling experiment (every report of every trial: one row per (seed set, epochs)), or a
plain table (CSV or parquet with columns seed_set_tokens, epochs, mean_pz, e.g. a W&B export of
cluster runs), and never trains:

    python -m analysis.scaling results/scaling_default_20261122-072500
    python -m analysis.scaling my_wandb_export.csv --out figures/

The law is log P(z) = c1 log(epochs) + c2 log(seed_set_tokens) + c3 (natural logs), fitted by
least squares (statsmodels) over every row; the seed's hypothesis is c1 > 0 and c2 < 0. The rows
of one trial are one training run, so the headline intervals are cluster-robust by trial (t with
trials - 1 degrees of freedom); the plain OLS intervals, which treat every row as independent,
are printed beside them. The same law fitted to log(P(z) targets / P(z) controls) (the ratio
fit) separates memorization of the seed set from the language learning that raises both.
Only trials that ended normally are fitted (``analysis.common.load``). Writes table.parquet and
table.csv (with the prediction and residual of each row), summary.json and three figures, and
warns when the fit rests on few points or when its residuals show the power law does not hold.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.common.cli import analysis_cli
from analysis.common.fit import FitResult, fit_linear, fit_ols
from analysis.common.jsonfile import write_json
from analysis.common.load import (
    TABLE_SUFFIXES,
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
from analysis.scaling.fit import fit_memorization_law, predict_pz
from memtune.core.cli import ArgumentParser, UsageError
from memtune.experiments.scaling.config import ScalingConfig

REQUIRED = ["seed_set_tokens", "epochs", "mean_pz"]
MIN_POINTS = 10  # fewer rows than this and the three intervals are wide
MIN_LEVELS = 3  # distinct epoch counts / seed-set sizes needed to see curvature along an axis
CURVATURE_T = 3.0  # |t| of an extra term beyond which the residuals are called structured
CEILING_PZ = 0.9  # P(z) above this is near its ceiling of 1, where no power law can continue
SATURATION_FRAC = 0.5  # last-step slope below this share of c1: that seed set has saturated


def load_scaling_table(path: str | Path) -> pd.DataFrame:
    """Rows to fit: a plain table as it is, or every report of every trial of an experiment.

    An experiment gives one row per (trial, epochs), with the trial's config columns
    (``seed_set_tokens``, ``seed``, ``model.name``, ...) and ``status``; a report repeated by a
    trial restored from a checkpoint is kept once (the last).
    """
    p = Store.open(path)  # a local path or a URI (s3://...)
    if p.suffix in TABLE_SUFFIXES:
        return load_table(p.uri)
    df = read_store(p).history()
    if "epochs" in df:
        df = df.drop_duplicates(["trial_id", "epochs"], keep="last")
    sort = [c for c in ["seed_set_tokens", "seed", "epochs"] if c in df]
    return df.sort_values(sort).reset_index(drop=True)


def check_table(df: pd.DataFrame) -> pd.DataFrame:
    """The rows with numeric, positive seed_set_tokens, epochs and mean_pz <= 1, or UsageError."""
    require_columns(df, REQUIRED, "scaling analysis")
    df = df.copy()
    for c in REQUIRED:
        df[c] = pd.to_numeric(df[c], errors="coerce")
        bad = ~(np.isfinite(df[c]) & (df[c] > 0))
        if bad.any():
            raise UsageError(
                f"scaling analysis: {int(bad.sum())} row(s) have a missing, non-numeric or "
                f"non-positive {c} (first: row {int(np.flatnonzero(bad)[0])}); the law takes "
                "logs of seed_set_tokens, epochs and mean_pz, so all must be > 0"
            )
    if (df["mean_pz"] > 1).any():
        raise UsageError(
            f"scaling analysis: mean_pz is a probability, but {int((df['mean_pz'] > 1).sum())} "
            f"row(s) exceed 1 (max {df['mean_pz'].max():.4g}); is it the right column?"
        )
    for c in ["seed_set_tokens", "epochs"]:
        if df[c].nunique() < 2:
            raise UsageError(
                f"scaling analysis: needs at least 2 distinct values of {c}, got "
                f"{df[c].nunique()}; c1 and c2 cannot be told apart otherwise"
            )
    return df


def _extra_term_t(df: pd.DataFrame, extra: np.ndarray) -> float | None:
    """t statistic of one extra regressor added to the law (None when it cannot be fitted)."""
    le, ld = np.log(df["epochs"].to_numpy(float)), np.log(df["seed_set_tokens"].to_numpy(float))
    X = np.column_stack([le, ld, np.ones_like(le), extra])
    if len(df) - 4 < 3 or np.linalg.matrix_rank(X) < 4:
        return None
    fit = fit_ols(X, np.log(df["mean_pz"].to_numpy(float)), ("c1", "c2", "c3", "extra"))
    return float(fit.params[3] / fit.stderr[3]) if fit.stderr[3] > 0 else None


def diagnose(df: pd.DataFrame, fit: FitResult) -> tuple[list[str], dict[str, float | None]]:
    """Warnings about the fit, and the t statistics of the terms the law leaves out.

    Curvature: (log epochs - mean)^2 added to the law; a significantly negative coefficient
    means log P(z) bends down at high epochs (saturation), a positive one that it rises faster
    than a power of epochs somewhere (typically a slow start). Interaction: log(epochs) x
    log(seed_set_tokens); significant means c1 depends on the seed-set size, so the two factors
    do not combine multiplicatively as the law assumes.
    """
    warnings = []
    n_sizes, n_epochs = df["seed_set_tokens"].nunique(), df["epochs"].nunique()
    if fit.n_points < MIN_POINTS:
        warnings.append(
            f"the fit rests on {fit.n_points} points (< {MIN_POINTS}); its intervals are wide"
        )
    if n_sizes < MIN_LEVELS:
        warnings.append(
            f"only {n_sizes} seed-set sizes: c2 is a line through {n_sizes} values, and whether "
            "log P(z) is linear in log(seed_set_tokens) cannot be checked"
        )
    if n_epochs < MIN_LEVELS:
        warnings.append(f"only {n_epochs} epoch counts: curvature in log(epochs) cannot be seen")
    le = np.log(df["epochs"].to_numpy(float))
    ld = np.log(df["seed_set_tokens"].to_numpy(float))
    t_curv = _extra_term_t(df, (le - le.mean()) ** 2) if n_epochs >= MIN_LEVELS else None
    t_inter = _extra_term_t(df, (le - le.mean()) * (ld - ld.mean()))
    if t_curv is not None and t_curv < -CURVATURE_T:
        warnings.append(
            f"residuals bend down at high epochs (curvature t = {t_curv:.1f}): P(z) saturates, "
            "so the power law in epochs does not hold over the whole range; see pz_residuals.png"
        )
    elif t_curv is not None and t_curv > CURVATURE_T:
        warnings.append(
            f"residuals bend up in log(epochs) (curvature t = {t_curv:.1f}): P(z) grows faster "
            "than a power of epochs over part of the range (e.g. a slow start); see "
            "pz_residuals.png"
        )
    if t_inter is not None and abs(t_inter) > CURVATURE_T:
        warnings.append(
            f"the slope in log(epochs) changes with seed-set size (interaction t = {t_inter:.1f})"
            ": the factors do not combine multiplicatively as the law assumes"
        )
    if fit.params[0] > 0:
        seeds = per_seed_set(df)
        flat = seeds[seeds.get("c1_last_step", np.inf) < SATURATION_FRAC * fit.params[0]]
        if not flat.empty:
            which = ", ".join(
                f"{int(r.seed_set_tokens):,} ({r.c1_last_step:.2f})" for r in flat.itertuples()
            )
            warnings.append(
                f"saturation at high epochs: between their two largest epoch counts, P(z) of seed "
                f"set(s) {which} grows with a slope under {SATURATION_FRAC:.0%} of c1 = "
                f"{fit.params[0]:.2f}; the power law in epochs does not hold there"
            )
    near = int((df["mean_pz"] > CEILING_PZ).sum())
    if near:
        warnings.append(
            f"{near} point(s) have P(z) > {CEILING_PZ}, near the ceiling of 1 that no power law "
            "can pass"
        )
    return warnings, {"curvature_t": t_curv, "interaction_t": t_inter}


def per_seed_set(df: pd.DataFrame) -> pd.DataFrame:
    """Each seed-set size alone: its slope in log(epochs), over all counts (``c1_alone``) and
    between its two largest counts (``c1_last_step``), and P(z) at its largest count."""
    rows = []
    for d_tokens, d in df.groupby("seed_set_tokens"):
        last = d[d["epochs"] == d["epochs"].max()]
        row = {
            "seed_set_tokens": int(d_tokens),
            "n_points": len(d),
            "c1_alone": float("nan"),
            "max_epochs": float(d["epochs"].max()),
            "mean_pz_at_max_epochs": float(last["mean_pz"].mean()),
        }
        if d["epochs"].nunique() >= 2:
            row["c1_alone"] = float(fit_linear(np.log(d["epochs"]), np.log(d["mean_pz"])).params[0])
            mean = d.groupby("epochs")["mean_pz"].mean()
            (e0, p0), (e1, p1) = list(mean.items())[-2:]
            row["c1_last_step"] = float(np.log(p1 / p0) / np.log(e1 / e0))
        if "mean_pz_control" in d:
            row["mean_pz_control_at_max_epochs"] = float(last["mean_pz_control"].mean())
        rows.append(row)
    return pd.DataFrame(rows)


def trial_clusters(df: pd.DataFrame) -> np.ndarray:
    """The trial of each row: ``trial_id``, or in a plain table without it the (seed set, seed)."""
    if "trial_id" in df:
        return df["trial_id"].astype(str).to_numpy()
    keys = [c for c in ["seed_set_tokens", "seed"] if c in df]
    return df[keys].astype(str).agg("/".join, axis=1).to_numpy()


def _params(fit: FitResult, ols: FitResult) -> dict[str, Any]:
    """c1..c3 with their headline (cluster-robust) and OLS stderr and intervals."""
    f, o = fit.as_dict(), ols.as_dict()
    out: dict[str, Any] = {"interval": fit.interval, "n_clusters": fit.n_clusters}
    for name in fit.names:
        out[name] = f[name]
        out[f"{name}_stderr"] = f[f"{name}_stderr"]
        out[f"{name}_ci95"] = [f[f"{name}_ci95_low"], f[f"{name}_ci95_high"]]
        out[f"{name}_stderr_ols"] = o[f"{name}_stderr"]
        out[f"{name}_ci95_ols"] = [o[f"{name}_ci95_low"], o[f"{name}_ci95_high"]]
    return out


def summarize(
    df: pd.DataFrame, fit: FitResult, ols: FitResult, ratio: tuple[FitResult, FitResult] | None
) -> dict[str, Any]:
    warnings, extra_t = diagnose(df, ols)
    if fit.n_clusters is not None and fit.n_clusters <= len(fit.names):
        warnings.append(
            f"only {fit.n_clusters} trials for {len(fit.names)} parameters: cluster-robust "
            "intervals need more trials than parameters (none given; the OLS ones treat every "
            "row as independent and are too narrow); add seed sets or seeds"
        )
    summary: dict[str, Any] = {"law": "log P(z) = c1 log(epochs) + c2 log(seed_set_tokens) + c3"}
    summary.update(_params(fit, ols))
    if ratio is not None:
        summary["ratio"] = {
            "law": "log(P(z) targets / P(z) controls) = c1 log(epochs) + c2 log(seed_set_tokens)"
            " + c3",
            **_params(*ratio),
            "r2": ratio[0].r2,
        }
    summary.update(
        r2=fit.r2,
        n_points=fit.n_points,
        n_seed_set_sizes=int(df["seed_set_tokens"].nunique()),
        n_epoch_counts=int(df["epochs"].nunique()),
        c1_positive=bool(summary["c1_ci95"][0] > 0),
        c2_negative=bool(summary["c2_ci95"][1] < 0),
        residual_std_log=float(np.std(df["log_residual"], ddof=3)) if len(df) > 3 else None,
        **extra_t,
        per_seed_set=per_seed_set(df).to_dict(orient="records"),
        warnings=warnings,
    )
    if "trial_id" in df:
        summary["n_trials"] = int(df["trial_id"].nunique())
    return summary


def _sign(summary: dict[str, Any], name: str, positive: bool) -> str:
    lo, hi = summary[f"{name}_ci95"]
    if np.isnan(lo) or np.isnan(hi):
        return "sign not resolved (no interval)"
    if (lo > 0) if positive else (hi < 0):
        return "matches the hypothesis (95% CI excludes 0)"
    if (hi < 0) if positive else (lo > 0):
        return "OPPOSITE to the hypothesis (95% CI excludes 0)"
    return "sign not resolved (95% CI contains 0)"


def _param_lines(summary: dict[str, Any]) -> list[str]:
    """c1..c3: estimate, headline stderr and 95% CI, and the OLS CI beside it."""
    expect = {"c1": ("> 0", True), "c2": ("< 0", False)}
    lines = [
        f"  95% CI: {summary['interval']}; OLS CI: every row independent",
        f"  {'':4}{'estimate':>10}{'stderr':>9}{'95% CI':>22}{'OLS 95% CI':>22}",
    ]
    for name in ["c1", "c2", "c3"]:
        lo, hi = summary[f"{name}_ci95"]
        olo, ohi = summary[f"{name}_ci95_ols"]
        line = (
            f"  {name:<4}{summary[name]:>+10.4f}{summary[f'{name}_stderr']:>9.4f}"
            f"{f'[{lo:+.4f}, {hi:+.4f}]':>22}{f'[{olo:+.4f}, {ohi:+.4f}]':>22}"
        )
        if name in expect:
            line += f"   hypothesis {expect[name][0]}: {_sign(summary, name, expect[name][1])}"
        lines.append(line)
    return lines


def format_report(summary: dict[str, Any]) -> str:
    lines = [
        f"memorization law {summary['law']}",
        f"  fit over {summary['n_points']} points ({summary['n_seed_set_sizes']} seed-set sizes, "
        f"{summary['n_epoch_counts']} epoch counts from {summary['epochs_range'][0]:g} to "
        f"{summary['epochs_range'][1]:g}):",
    ]
    lines += _param_lines(summary)
    lines.append(f"  R2 = {summary['r2']:.4f}")
    if "ratio" in summary:
        r = summary["ratio"]
        lines += ["", f"  ratio fit {r['law']}:", *_param_lines(r), f"  R2 = {r['r2']:.4f}"]
    lines.append("")
    lines.append(
        f"  {'seed set':>12}{'points':>8}{'c1 alone':>10}{'c1 last':>9}{'max epochs':>12}"
        f"{'P(z) there':>12}{'control':>10}"
    )
    for r in summary["per_seed_set"]:
        ctrl = r.get("mean_pz_control_at_max_epochs", float("nan"))
        lines.append(
            f"  {r['seed_set_tokens']:>12,}{r['n_points']:>8}{r['c1_alone']:>10.3f}"
            f"{r.get('c1_last_step', float('nan')):>9.3f}{r['max_epochs']:>12g}"
            f"{r['mean_pz_at_max_epochs']:>12.4f}{ctrl:>10.4f}"
        )
    lines += [f"  warning: {w}" for w in summary["warnings"]]
    return "\n".join(lines)


def analyze(
    df: pd.DataFrame,
    out: Path,
    min_epochs: float | None = None,
    max_epochs: float | None = None,
) -> dict[str, Any]:
    """Fit, write table/summary/plots under ``out``, and return the summary.

    ``min_epochs``/``max_epochs`` restrict the fit (and the table and figures) to one regime,
    e.g. the epochs after which the targets pull away from the controls.
    """
    from analysis.scaling.plots import (
        plot_pz_actual_vs_predicted,
        plot_pz_residuals,
        plot_pz_scaling_curves,
    )

    n_trials = int(df["trial_id"].nunique()) if "trial_id" in df else len(df)
    df, unfinished = finished_trials(df)  # the shared rule: only trials that ended normally
    try:
        df = check_table(df)
        lo = df["epochs"].min() if min_epochs is None else min_epochs
        hi = df["epochs"].max() if max_epochs is None else max_epochs
        df = check_table(df[(df["epochs"] >= lo) & (df["epochs"] <= hi)])
    except UsageError as e:
        raise UsageError(with_incomplete(str(e), unfinished, n_trials)) from None
    check_one_experiment(df, ScalingConfig, [], ["seed_set_tokens", "seed"], "scaling analysis")
    e, d, pz = df["epochs"], df["seed_set_tokens"], df["mean_pz"]
    clusters = trial_clusters(df)
    fit = fit_memorization_law(e, d, pz, clusters)
    ols = fit_memorization_law(e, d, pz)
    ratio = None
    if "mean_pz_control" in df and (pd.to_numeric(df["mean_pz_control"]) > 0).all():
        pr = pz / df["mean_pz_control"]
        ratio = fit_memorization_law(e, d, pr, clusters), fit_memorization_law(e, d, pr)
    df["pz_predicted"] = predict_pz(df["epochs"], df["seed_set_tokens"], *fit.params)
    df["log_residual"] = np.log(df["mean_pz"]) - np.log(df["pz_predicted"])
    summary = summarize(df, fit, ols, ratio)
    summary.update(completeness(df, unfinished))
    if unfinished:
        summary["warnings"].insert(0, incomplete_note(unfinished, n_trials))
    summary["epochs_range"] = [float(df["epochs"].min()), float(df["epochs"].max())]
    out.mkdir(parents=True, exist_ok=True)
    df.to_parquet(out / "table.parquet")
    df.to_csv(out / "table.csv", index=False)
    write_json(out / "summary.json", summary)
    figures = {
        "pz_actual_vs_predicted.png": plot_pz_actual_vs_predicted(df, fit),
        "pz_residuals.png": plot_pz_residuals(df),
        "pz_scaling_curves.png": plot_pz_scaling_curves(df, fit),
    }
    for fname, fig in figures.items():
        fig.savefig(out / fname, dpi=120)
    summary["outputs"] = [
        str(out / f) for f in ["table.parquet", "table.csv", "summary.json", *figures]
    ]
    return summary


def run(
    path: str, out: Path, min_epochs: float | None = None, max_epochs: float | None = None
) -> tuple[str, list[str]]:
    summary = analyze(load_scaling_table(path), out, min_epochs, max_epochs)
    return format_report(summary), summary["outputs"]


def _options(parser: ArgumentParser) -> None:
    parser.add_argument("--min-epochs", type=float, default=None, help="fit rows from here")
    parser.add_argument("--max-epochs", type=float, default=None, help="fit rows up to here")


analyze_experiment, main = analysis_cli("scaling", __doc__, run, _options)
