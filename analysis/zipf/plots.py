"""Figures of the Zipf analysis (seed 001): each takes the records table and returns a Figure.

Records have one row per (trial, sequence rank, evaluation step) with presentations,
loss_bits, accuracy and, from the trainable, floor_bits (the Bayes-optimal loss of the Zipf
mixture). Sizes, limits and rank selections come from ``analysis.zipf.config``. The backend is
chosen by the caller (``analysis.zipf`` uses Agg unless it is to show the figures); nothing runs
at import.
"""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.colors import LogNorm
from matplotlib.ticker import NullFormatter

from analysis.zipf.config import PLOT, ranks_for


def _panels(n: int) -> tuple[plt.Figure, list[plt.Axes]]:
    cols = min(n, PLOT.max_cols)
    rows = -(-n // cols)
    w, h = PLOT.panel_size
    fig, axes = plt.subplots(rows, cols, figsize=(w * cols, h * rows), squeeze=False)
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def _log_x(ax: plt.Axes) -> None:
    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(NullFormatter())
    if PLOT.presentations_xlim is not None:
        ax.set_xlim(*PLOT.presentations_xlim)
    ax.set_xlabel("presentations of the sequence so far")


def _rank_colors(ranks: list[int], n_seqs: int) -> dict[int, Any]:
    cmap = plt.get_cmap(PLOT.cmap)
    norm = LogNorm(1, max(n_seqs, 2))
    return {r: cmap(0.9 * norm(r)) for r in ranks}


def _trajectories(d: pd.DataFrame, ranks: list[int], column: str) -> dict[int, pd.DataFrame]:
    """Per rank: the mean over seeds of presentations and ``column`` at each step (n >= 1)."""
    s = d[d["rank"].isin(ranks) & (d["presentations"] >= 1)]
    mean = s.groupby(["rank", "step"])[["presentations", column]].mean().reset_index()
    return {int(r): g.sort_values("step") for r, g in mean.groupby("rank")}


def _rank_lines(ax: plt.Axes, d: pd.DataFrame, selection: str, column: str, reference: str) -> None:
    """One experiment's selected ranks: ``column`` vs presentations, one line per rank, and
    the rank's ``reference`` (its Bayes-optimal value, when recorded) dotted in its colour."""
    K = int(d["rank"].max())
    ranks = ranks_for(selection, K)
    colors = _rank_colors(ranks, K)
    for r, g in _trajectories(d, ranks, column).items():
        ax.plot(g["presentations"], g[column], "o-", ms=2.5, lw=1.2, color=colors[r],
                label=f"rank {r}")  # fmt: skip
        if reference in d:
            value = d.loc[d["rank"] == r, reference].iloc[0]
            ax.axhline(value, color=colors[r], lw=0.8, ls=":")


def plot_loss_lines(
    df: pd.DataFrame, experiments: list[str], selection: str, fits: dict[str, dict[str, Any]]
) -> plt.Figure:
    """Loss vs presentations, one line per selected rank (its trajectory over training).

    The dotted line of the same colour is that rank's Bayes floor; the dashed black curve is
    the experiment's fitted logistic in log n.
    """
    fig, axes = _panels(len(experiments))
    for ax, e in zip(axes, experiments, strict=True):
        d = df[df["experiment"] == e]
        _rank_lines(ax, d, selection, "loss_bits", "floor_bits")
        f = fits.get(e, {})
        if "logistic_n_half" in f:
            x = np.geomspace(max(1, d["presentations"].min()), d["presentations"].max(), 200)
            y = f["logistic_L0"] / (1 + (x / f["logistic_n_half"]) ** f["logistic_k"])
            ax.plot(x, y, "k--", lw=1, label=f"logistic, n½={f['logistic_n_half']:.0f}")
        _log_x(ax)
        ax.set_ylim(*PLOT.loss_ylim)
        ax.set_ylabel("loss (bits/token)")
        ax.set_title(f"{e}: loss vs presentations", fontsize=9)
        ax.legend(fontsize=6, ncol=2)
    fig.suptitle(f"loss per sequence ({selection} ranks; dotted: Bayes floor)", fontsize=10)
    fig.tight_layout()
    return fig


def plot_loss_scatter(
    df: pd.DataFrame, experiments: list[str], fits: dict[str, dict[str, Any]]
) -> plt.Figure:
    """Every (sequence, evaluation) as a point, coloured by rank, with the power-law fit."""
    fig, axes = _panels(len(experiments))
    for ax, e in zip(axes, experiments, strict=True):
        d = df[(df["experiment"] == e) & (df["presentations"] >= 1)]
        K = int(d["rank"].max())
        sc = ax.scatter(
            d["presentations"],
            d["loss_bits"],
            c=d["rank"],
            s=PLOT.scatter_size,
            alpha=PLOT.scatter_alpha,
            cmap=PLOT.cmap,
            norm=LogNorm(1, max(K, 2)),
            linewidths=0,
        )
        f = fits.get(e, {})
        if "power_b" in f:
            x = np.geomspace(1, d["presentations"].max(), 100)
            ax.plot(
                x,
                f["power_a"] * x ** -f["power_b"],
                "r-",
                lw=1,
                label=f"a n^-b, b={f['power_b']:.2f}, R²={f['power_r2']:.2f}",
            )
            ax.legend(fontsize=7)
        fig.colorbar(sc, ax=ax, label="rank")
        _log_x(ax)
        ax.set_ylim(*PLOT.loss_ylim)
        ax.set_ylabel("loss (bits/token)")
        ax.set_title(f"{e}: every sequence at every evaluation", fontsize=9)
    fig.tight_layout()
    return fig


def plot_accuracy_lines(df: pd.DataFrame, experiments: list[str], selection: str) -> plt.Figure:
    """Token accuracy vs presentations, one line per selected rank (dotted: Bayes accuracy)."""
    fig, axes = _panels(len(experiments))
    for ax, e in zip(axes, experiments, strict=True):
        _rank_lines(ax, df[df["experiment"] == e], selection, "accuracy", "bayes_accuracy")
        ax.axhline(1.0, color="0.5", lw=0.8)
        _log_x(ax)
        ax.set_ylim(*PLOT.accuracy_ylim)
        ax.set_ylabel("token accuracy")
        ax.set_title(f"{e}: accuracy vs presentations", fontsize=9)
        ax.legend(fontsize=6, ncol=2)
    fig.suptitle(f"accuracy per sequence ({selection} ranks; dotted: Bayes accuracy)", fontsize=10)
    fig.tight_layout()
    return fig


def plot_comparison(binned: pd.DataFrame, experiments: list[str], title: str) -> plt.Figure:
    """Mean loss and accuracy in presentation bins, one line per experiment."""
    fig, (ax_l, ax_a) = plt.subplots(1, 2, figsize=PLOT.compare_size)
    colors = plt.get_cmap("tab10")
    for i, e in enumerate(experiments):
        b = binned[binned["experiment"] == e].sort_values("presentations")
        kw = {"color": colors(i % 10), "lw": 1.5, "ms": 3, "label": e}
        ax_l.plot(b["presentations"], b["loss_bits"], "o-", **kw)
        ax_a.plot(b["presentations"], b["accuracy"], "o-", **kw)
    for ax, label, lim in [
        (ax_l, "mean loss (bits/token)", PLOT.loss_ylim),
        (ax_a, "mean token accuracy", PLOT.accuracy_ylim),
    ]:
        _log_x(ax)
        ax.set_ylim(*lim)
        ax.set_ylabel(label)
        ax.legend(fontsize=7)
    fig.suptitle(
        f"{' vs '.join(experiments)} ({title}); log-spaced bins of presentations", fontsize=9
    )
    fig.tight_layout()
    return fig
