"""Generalization figures: each function takes the per-trial table and returns a Figure.

Trials stopped by their budget (verdict "budget") are drawn hollow everywhere: their figures are
not converged. Nothing runs at import.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.common.figures import finish, no_data, plt
from analysis.generalization.fit import LEVELS, SigmoidFit, predict_sigmoid


def _models(df: pd.DataFrame) -> list[tuple[str, object]]:
    names = list(df.groupby("model.name")["n_params"].first().sort_values().index)
    colors = plt.cm.viridis(np.linspace(0, 0.8, max(len(names), 1)))
    return list(zip(names, colors, strict=False))


def _points(ax: plt.Axes, d: pd.DataFrame, x: str, y: str, color: object, **kw: object) -> None:
    ok, budget = d[d["converged"]], d[~d["converged"]]
    ax.scatter(ok[x], ok[y], color=color, s=18, **kw)
    ax.scatter(budget[x], budget[y], facecolors="none", edgecolors=color, s=36)


def plot_mem_vs_n(df: pd.DataFrame) -> plt.Figure:
    """Unintended memorization (total over the training set) against N, per model.

    Solid: mem_U on the training set; dotted: the same statistic on the held-out set (chance
    alone, the noise floor); grey dashes: a perfect memorizer's (the training set's source code
    length minus its floor); each model's capacity estimate horizontal, its crossing N* vertical.
    """
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, color in _models(df):
        d = df[df["model.name"] == name]
        cols = [c for c in ("mem_u_bits", "mem_u_heldout_bits", "memorizable_bits") if c in d]
        mean = d.groupby("n_seqs")[cols].mean()  # a plain table may lack the perfect memorizer
        n_params = int(d["n_params"].iloc[0])
        ax.plot(mean.index, mean["mem_u_bits"], "-", color=color,
                label=f"{name} ({n_params:,} params): mem_U train")  # fmt: skip
        ax.plot(mean.index, mean["mem_u_heldout_bits"], ":", color=color, label="  held-out")
        if "memorizable_bits" in mean and mean["memorizable_bits"].notna().any():
            ax.plot(mean.index, mean["memorizable_bits"], "--", color="0.6", lw=0.8)
        _points(ax, d, "n_seqs", "mem_u_bits", color)
        ax.axhline(d["capacity_bits"].iloc[0], color=color, ls="--", lw=0.8)
        ax.axvline(d["crossing_n_seqs"].iloc[0], color=color, ls=":", lw=0.8)
    ax.set_xscale("log", base=2)
    ax.set_yscale("symlog", linthresh=10)
    ax.set_ylim(bottom=0)
    fig = finish(
        fig, ax, "training sequences N",
        "unintended memorization mem_U (bits, total)",
        title="mem_U vs N: capacity dashed, N* dotted, grey = perfect memorizer, hollow = budget",
        legend=7,
    )  # fmt: skip
    ax.title.set_fontsize(9)
    return fig


TRAIN_EXCESS = "train_excess_bits_per_token"


def plot_heldout_vs_n(df: pd.DataFrame) -> plt.Figure:
    """Held-out loss in excess of the source (bits/token) against N / N*, per model.

    At x = 1 the data's information equals the capacity estimate: Morris et al.'s double
    descent begins there. The training set's excess (negative: below the source, memorized) is
    drawn dashed for comparison.
    """
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, color in _models(df):
        d = df[df["model.name"] == name]
        cols = [c for c in ("heldout_excess_bits_per_token", TRAIN_EXCESS) if c in d]
        mean = d.groupby("multiple")[cols].mean()  # a plain table may lack the training excess
        ax.plot(mean.index, mean["heldout_excess_bits_per_token"], "-", color=color,
                label=f"{name}: held-out")  # fmt: skip
        if TRAIN_EXCESS in mean:
            ax.plot(mean.index, mean[TRAIN_EXCESS], "--", color=color, lw=0.8,
                    label=f"{name}: train")  # fmt: skip
        _points(ax, d, "multiple", "heldout_excess_bits_per_token", color)
    ax.axvline(1.0, color="0.5", ls=":", lw=1)
    ax.axhline(0.0, color="0.7", lw=0.8)
    ax.set_xscale("log", base=2)
    fig = finish(
        fig, ax, "N / N* (N* = capacity / E[L_source] per sequence)",
        "L_model - L_source (bits/token)",
        title="Held-out excess over the exact source vs N; hollow = budget", legend=7,
    )  # fmt: skip
    ax.title.set_fontsize(9)
    return fig


def plot_mi(df: pd.DataFrame, fit_f1: SigmoidFit | None, fit_auc: SigmoidFit | None) -> plt.Figure:
    """Membership inference (loss attack) against capacity / dataset information, with the
    fitted sigmoids, their 95% bands, and the F1 levels 0.75 and 0.95."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    if df.empty:
        no_data(axes[0], "trials")
        return fig
    r = np.geomspace(df["capacity_ratio"].min() / 1.5, df["capacity_ratio"].max() * 1.5, 200)
    for ax, col, fit, label in (
        (axes[0], "f1_loss", fit_f1, "best F1, loss attack"),
        (axes[1], "auroc_loss", fit_auc, "AUROC, loss attack"),
    ):
        for name, color in _models(df):
            d = df[df["model.name"] == name]
            _points(ax, d, "capacity_ratio", col, color, label=name)
        if fit is not None:
            ax.plot(r, predict_sigmoid(r, *fit.params()), "k-", lw=1, label="fitted sigmoid")
            lo, hi = fit.band(r)
            ax.fill_between(r, lo, hi, color="0.8", alpha=0.6, label="95% band")
        if col == "f1_loss":
            for level in LEVELS:
                ax.axhline(level, color="0.6", ls=":", lw=0.8)
        # chance: 1/2 for AUROC; 2/3 for the best F1 (calling every sequence a member)
        ax.axhline(2 / 3 if col == "f1_loss" else 0.5, color="r", ls="--", lw=0.6,
                   label="chance")  # fmt: skip
        ax.axvline(1.0, color="0.5", ls=":", lw=1)
        ax.set_xscale("log", base=2)
        finish(fig, ax, "capacity / information of the training set", label,
               title=f"{label}; hollow = budget (not fitted)", legend=7)  # fmt: skip
        ax.title.set_fontsize(9)
    return fig
