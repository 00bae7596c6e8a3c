"""Figures of the memorization scaling law: each takes the fitted table and returns a Figure.

The table is ``analysis.scaling``'s: one row per (seed set, epochs[, seed]) with mean_pz and,
after the fit, pz_predicted and log_residual; mean_pz_control and mean_pz_source are drawn when
present. Nothing runs at import.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.ticker import NullFormatter

from analysis.common.figures import plt
from analysis.common.fit import FitResult
from analysis.scaling.fit import predict_pz


def _sizes_and_colors(df: pd.DataFrame) -> list[tuple[float, np.ndarray]]:
    sizes = sorted(df["seed_set_tokens"].unique())
    colors = plt.cm.viridis(np.linspace(0, 0.9, len(sizes)))
    return list(zip(sizes, colors, strict=True))


def _tokens(d: float) -> str:
    """1M, 10M, 100M for the seed's sizes; 2,048 for powers of two."""
    for div, unit in [(1e9, "B"), (1e6, "M"), (1e3, "K")]:
        if d >= div and d % div == 0:
            return f"{d / div:g}{unit}"
    return f"{d:,.0f}"


def _log_axes(ax: plt.Axes, x: bool = True, y: bool = False) -> None:
    """Log scales labelled at the decades only: minor labels overlap on short ranges."""
    for on, axis, scale in [(x, ax.xaxis, ax.set_xscale), (y, ax.yaxis, ax.set_yscale)]:
        if on:
            scale("log")
            axis.set_minor_formatter(NullFormatter())


def _law_label(fit: FitResult) -> str:
    c1, c2, c3 = fit.params
    return f"log P = {c1:.3f} log E {c2:+.3f} log D {c3:+.2f}, R² {fit.r2:.3f}"


def plot_pz_actual_vs_predicted(df: pd.DataFrame, fit: FitResult) -> plt.Figure:
    """Measured mean_pz against the law's prediction, log-log, with the identity line."""
    fig, ax = plt.subplots(figsize=(5.5, 5))
    for d, color in _sizes_and_colors(df):
        s = df[df["seed_set_tokens"] == d]
        ax.scatter(s["pz_predicted"], s["mean_pz"], color=color, s=18, label=f"D = {_tokens(d)}")
    lo = min(df["mean_pz"].min(), df["pz_predicted"].min()) / 1.3
    hi = max(df["mean_pz"].max(), df["pz_predicted"].max()) * 1.3
    ax.plot([lo, hi], [lo, hi], color="0.5", lw=1, ls="--", label="actual = predicted")
    _log_axes(ax, x=True, y=True)
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_xlabel("predicted P(z)")
    ax.set_ylabel("mean_pz (measured P(z) of the targets)")
    ax.set_title(_law_label(fit), fontsize=8)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_pz_residuals(df: pd.DataFrame) -> plt.Figure:
    """log residuals (measured - predicted) against epochs and against seed-set size.

    A power law leaves residuals scattered around zero with no trend; saturation shows as a
    downturn at the highest epochs, a slow start as an upturn in the middle.
    """
    fig, (ax_e, ax_d) = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for d, color in _sizes_and_colors(df):
        s = df[df["seed_set_tokens"] == d].sort_values("epochs")
        mean = s.groupby("epochs")["log_residual"].mean()
        ax_e.plot(mean.index, mean.values, "o-", color=color, ms=4, label=f"D = {_tokens(d)}")
    points = ax_d.scatter(
        df["seed_set_tokens"], df["log_residual"], c=df["epochs"], s=14, norm="log"
    )
    fig.colorbar(points, ax=ax_d, label="epochs")
    for ax in (ax_e, ax_d):
        ax.axhline(0, color="0.5", lw=1)
        _log_axes(ax)
    ax_e.set_xlabel("epochs")
    ax_e.set_ylabel("log residual: log mean_pz - log predicted")
    ax_e.set_title("residuals vs epochs (one line per seed set)", fontsize=9)
    ax_e.legend(fontsize=7)
    ax_d.set_xlabel("seed_set_tokens")
    ax_d.set_title("residuals vs seed-set size", fontsize=9)
    fig.tight_layout()
    return fig


def plot_pz_scaling_curves(df: pd.DataFrame, fit: FitResult) -> plt.Figure:
    """mean_pz vs epochs for each seed-set size, with the fitted law and the controls.

    Solid markers: targets (trained on); dashed lines: the law; hollow markers: controls (never
    trained on, generalization only); grey: P(z) under the true source, when it is known.
    """
    fig, ax = plt.subplots(figsize=(7, 4.8))
    e = np.geomspace(df["epochs"].min(), df["epochs"].max(), 100)
    for d, color in _sizes_and_colors(df):
        s = df[df["seed_set_tokens"] == d]
        mean = s.groupby("epochs")["mean_pz"].mean()
        ax.plot(
            mean.index, mean.values, "o-", color=color, ms=4, label=f"targets, D = {_tokens(d)}"
        )
        ax.plot(e, predict_pz(e, d, *fit.params), "--", color=color, lw=1)
        if "mean_pz_control" in s:
            ctrl = s.groupby("epochs")["mean_pz_control"].mean()
            ax.plot(ctrl.index, ctrl.values, "o:", color=color, mfc="none", ms=4, lw=0.8)
    if "mean_pz_source" in df and df["mean_pz_source"].notna().any():
        ax.axhline(
            df["mean_pz_source"].mean(), color="0.4", lw=1, label="source P(z): perfect generalizer"
        )
    if "mean_pz_control" in df:
        ax.plot([], [], "o:", color="0.3", mfc="none", label="controls (never trained on)")
    ax.plot([], [], "--", color="0.3", label="fit: " + _law_label(fit))
    _log_axes(ax, x=True, y=True)
    ax.set_xlabel("epochs")
    ax.set_ylabel("mean_pz (P(z))")
    ax.set_title("P(z) vs epochs for each seed-set size", fontsize=10)
    ax.legend(fontsize=6.5)
    fig.tight_layout()
    return fig
