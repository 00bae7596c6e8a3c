"""Capacity figures: each function takes DataFrames and returns a Figure; nothing at import."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.common.figures import MORRIS_BPP, finish, plt
from analysis.common.fit import FitResult, predict_linear


def _models_by_size(df: pd.DataFrame) -> list[str]:
    return list(df.groupby("model.name")["n_params"].first().sort_values().index)


def plot_bits_vs_dataset(df: pd.DataFrame, cap: pd.DataFrame, seq_bits: float | None) -> plt.Figure:
    """Memorized bits vs dataset size per model, with each model's capacity as a dashed line.

    Trials stopped by their budget (verdict not memorized/saturated) are drawn hollow: their
    bits are lower bounds. The line joins the per-N means of all trials.
    """
    fig, ax = plt.subplots(figsize=(7, 4.5))
    n = np.unique(np.geomspace(1, df["data.n_seqs"].max() * 1.5, 200).round())
    if seq_bits is not None:  # one vocabulary: the bits N sequences hold, less the floor
        ax.plot(
            n, n * (seq_bits - np.log2(n)), color="0.6", lw=1,
            label="achievable N(T log2 V - log2 N)",
        )  # fmt: skip
    colors = plt.cm.viridis(np.linspace(0, 0.9, df["model.name"].nunique()))
    for color, name in zip(colors, _models_by_size(df), strict=False):
        d = df[df["model.name"] == name]
        mean = d.groupby("data.n_seqs")["bits_memorized_best"].mean()
        n_params = int(d["n_params"].iloc[0])
        ax.plot(mean.index, mean.values, "-", color=color, label=f"{name} ({n_params:,} params)")
        judged = d["verdict"].isin(["memorized", "saturated"]) if "verdict" in d else True
        ok, lb = d[judged], d[~judged]
        ax.scatter(ok["data.n_seqs"], ok["bits_memorized_best"], color=color, s=14, alpha=0.7)
        ax.scatter(
            lb["data.n_seqs"], lb["bits_memorized_best"], facecolors="none", edgecolors=color, s=30
        )
        c = cap.loc[cap["model.name"] == name, "capacity_bits"].mean()
        ax.axhline(c, color=color, ls="--", lw=0.8)
    ax.set_xscale("log", base=2)
    ax.set_xlim(df["data.n_seqs"].min() / 1.5, df["data.n_seqs"].max() * 1.5)
    ax.set_yscale("log")
    ax.set_ylim(bottom=max(1.0, df["bits_memorized_best"].clip(lower=1).min() / 2))
    return finish(
        fig,
        ax,
        "dataset size N (sequences)",
        "bits_memorized (H(X) - H(X|θ))",
        title="Bits vs N; capacity dashed; hollow = stopped by budget (lower bound)",
        legend=7,
    )


def plot_capacity_fit(cap: pd.DataFrame, fit: FitResult | None) -> plt.Figure:
    """Capacity vs parameters with the linear fit and Morris et al.'s 3.6 bits/parameter.

    Converged capacities are solid, lower bounds hollow. The fit line is drawn only when there
    is a fit (two or more converged model sizes), and only converged points enter it; with no
    fit the title says why and no line is drawn: a line through lower bounds bounds nothing.
    """
    fig, ax = plt.subplots(figsize=(6, 4.5))
    conv = cap["plateau_reached"] if "plateau_reached" in cap else np.ones(len(cap), bool)
    ax.scatter(
        cap.loc[conv, "n_params"], cap.loc[conv, "capacity_bits"], color="C0",
        label="converged capacity (model, seed)",
    )  # fmt: skip
    if (~conv).any():
        ax.scatter(
            cap.loc[~conv, "n_params"], cap.loc[~conv, "capacity_bits"], facecolors="none",
            edgecolors="C0", label="lower bound (not fitted)",
        )  # fmt: skip
    x = np.linspace(0, cap["n_params"].max() * 1.1, 50)
    title = "Capacity vs parameters"
    if fit is not None:
        slope, intercept = fit.params
        lo, hi = fit.ci95[0]
        interval = f"[{lo:.2f}, {hi:.2f}]" if np.isfinite([lo, hi]).all() else "(no interval)"
        ax.plot(
            x, predict_linear(x, slope, intercept), color="C0",
            label=f"fit on converged: {slope:.2f} bits/param {interval}, R² {fit.r2:.3f}",
        )  # fmt: skip
    else:
        title += ": no fit (fewer than 2 converged model sizes)"
    ax.plot(x, MORRIS_BPP * x, color="C3", ls="--", label=f"Morris et al.: {MORRIS_BPP} bits/param")
    ax.set_ylim(bottom=0)
    ax.set_xlim(left=0)
    return finish(fig, ax, "parameters", "capacity (bits)", title=title)


def plot_bits_per_param(per_model: pd.DataFrame) -> plt.Figure:
    """Bits per parameter at capacity by model size: the mean over converged seeds with its 95%
    interval (solid), or the mean of lower bounds when no seed converged (hollow, no bar)."""
    fig, ax = plt.subplots(figsize=(6, 4))
    d = per_model.sort_values("n_params")
    bound = d["bound"] == ">=" if "bound" in d else np.zeros(len(d), bool)
    err = np.vstack([d["bpp"] - d["bpp_ci95_low"], d["bpp_ci95_high"] - d["bpp"]])
    err = np.nan_to_num(err, nan=0.0)
    ax.plot(d["n_params"], d["bpp"], "-", color="C0", lw=0.8)
    ok = ~np.asarray(bound)
    ax.errorbar(
        d["n_params"][ok], d["bpp"][ok], yerr=err[:, ok], fmt="o", color="C0", capsize=3,
        label="converged (mean over seeds, 95% CI)",
    )  # fmt: skip
    if (~ok).any():
        ax.scatter(
            d["n_params"][~ok], d["bpp"][~ok], facecolors="none", edgecolors="C0",
            label="lower bound (no seed converged)",
        )  # fmt: skip
    ax.axhline(MORRIS_BPP, color="C3", ls="--", label=f"Morris et al. {MORRIS_BPP}")
    for _, row in d.iterrows():
        ax.annotate(
            row["model.name"],
            (row["n_params"], row["bpp"]),
            fontsize=7,
            textcoords="offset points",
            xytext=(4, 4),
        )
    ax.set_xscale("log")
    ax.set_ylim(0, max(4.0, float(d["bpp_ci95_high"].max(skipna=True) or 0) * 1.1))
    return finish(fig, ax, "parameters", "bits per parameter at capacity")


def plot_protocol(history: pd.DataFrame) -> plt.Figure:
    """The protocol study: bits/param against CPU-seconds along every run, one line per setting.

    Args:
        history: one row per evaluation with optim.name, model.name, trial_id, train_seconds,
            eval_seconds, bits_memorized_best and n_params.
    """
    fig, ax = plt.subplots(figsize=(7, 4.5))
    several = history["model.name"].nunique() > 1  # settings are kept apart across models
    for (name, _), d in history.groupby(["optim.name", "trial_id"]):
        if several:
            name = f"{name} {d['model.name'].iloc[0]}"
        d = d.sort_values("train_seconds")
        cpu = d["train_seconds"] + d["eval_seconds"]
        (line,) = ax.plot(cpu, d["bits_memorized_best"] / d["n_params"], lw=1.2)
        ax.annotate(
            f"{name}", (cpu.iloc[-1], d["bits_memorized_best"].iloc[-1] / d["n_params"].iloc[-1]),
            fontsize=7, color=line.get_color(), textcoords="offset points", xytext=(3, 0),
        )  # fmt: skip
    ax.set_ylim(bottom=0)
    models = ", ".join(sorted(history["model.name"].unique()))
    return finish(
        fig, ax, "CPU seconds (train + eval)", "best memorized bits per parameter",
        title=f"Protocol study on {models}", legend=0,
    )  # fmt: skip


def plot_bits_vs_vocab(groups: pd.DataFrame) -> plt.Figure:
    """Bits per parameter (left) and per non-embedding parameter (right) against V, tied and
    untied, fp32 solid with 95% intervals over converged seeds; lower bounds (no converged
    seed) hollow; other precisions dashed."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, col, what in zip(
        axes, ["bpp", "bpp_non_embedding"], ["total", "non-embedding"], strict=True
    ):
        for (tied, dtype), d in groups.groupby(["tied", "dtype"], sort=True):
            d = d.sort_values("vocab_size")
            color = "C1" if tied else "C0"
            ls = "-" if dtype == "fp32" else "--"
            label = f"{'tied' if tied else 'untied'} {dtype}"
            ax.plot(d["vocab_size"], d[col], ls, color=color, lw=0.8)
            ci = np.array([list(c) for c in d[f"{col}_ci95"]], dtype=float)
            ok = (d["bound"] == "").to_numpy()
            err = np.nan_to_num(np.abs(ci.T - d[col].to_numpy()), nan=0.0)
            ax.errorbar(
                d["vocab_size"][ok], d[col][ok], yerr=err[:, ok], fmt="o", color=color,
                capsize=3, label=f"{label} (converged)",
            )  # fmt: skip
            if (~ok).any():
                ax.scatter(
                    d["vocab_size"][~ok], d[col][~ok], facecolors="none", edgecolors=color,
                    label=f"{label} (lower bound)",
                )  # fmt: skip
        ax.axhline(MORRIS_BPP, color="C3", ls="--", label=f"Morris et al. {MORRIS_BPP}")
        ax.set_xscale("log", base=2)
        finish(fig, ax, "vocabulary size V", f"bits per {what} parameter")
    return fig
