"""Threshold figures: each function takes DataFrames and returns a Figure; nothing at import."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.common.figures import MORRIS_BPP, finish, no_data, plt


def _protocol(p: str) -> str:
    """A label suffix naming the stopping protocol, when the table has one."""
    return f" ({p})" if p else ""


def _threshold_errorbar(ax: plt.Axes, d: pd.DataFrame, x: str, **kw) -> None:
    err = np.vstack(
        [d["threshold_mean"] - d["threshold_min"], d["threshold_max"] - d["threshold_mean"]]
    )
    ax.errorbar(d[x], d["threshold_mean"], yerr=err, fmt="o-", capsize=3, **kw)


def plot_threshold_vs_params(models: pd.DataFrame) -> plt.Figure:
    """Memorization threshold vs actual parameters, by architecture (best model per budget)."""
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for k, ((protocol, arch), d) in enumerate(models.groupby(["protocol", "model.arch"])):
        best = d.loc[d.groupby("model.budget")["threshold_mean"].idxmax()].sort_values("n_params")
        ax.scatter(d["n_params"], d["threshold_mean"], s=12, alpha=0.4, color=f"C{k}")
        label = f"{arch}{_protocol(protocol)}, best per budget"
        _threshold_errorbar(ax, best, "n_params", color=f"C{k}", label=label)
    ax.set_xscale("log")
    ax.set_yscale("symlog", linthresh=1)
    return finish(
        fig,
        ax,
        "parameters",
        "threshold (mappings memorized)",
        title="Memorization threshold vs parameters (range over seeds)",
    )


def plot_threshold_vs_depth(models: pd.DataFrame) -> plt.Figure:
    """MLP threshold vs number of hidden layers, one line per budget."""
    fig, ax = plt.subplots(figsize=(6, 4))
    d = models[models["model.arch"] == "mlp"]
    if d.empty:
        no_data(ax, "MLPs")
        return fig
    for (protocol, budget), g in d.groupby(["protocol", "model.budget"]):
        _threshold_errorbar(ax, g.sort_values("model.n_layer"), "model.n_layer",
                            label=f"{budget:,} params{_protocol(protocol)}")  # fmt: skip
    return finish(
        fig, ax, "MLP hidden layers (width solved for the budget)", "threshold (mappings memorized)"
    )


def plot_threshold_vs_heads(models: pd.DataFrame) -> plt.Figure:
    """Transformer threshold vs attention heads, one line per budget and depth."""
    fig, ax = plt.subplots(figsize=(6, 4))
    d = models[models["model.arch"] == "transformer"]
    if d.empty:
        no_data(ax, "transformers")
        return fig
    for (protocol, budget, n_layer), g in d.groupby(["protocol", "model.budget", "model.n_layer"]):
        label = f"{budget:,} params, {n_layer} blocks{_protocol(protocol)}"
        _threshold_errorbar(ax, g.sort_values("model.n_head"), "model.n_head", label=label)
    ax.set_xscale("log", base=2)
    return finish(
        fig, ax, "attention heads (d_model solved for the budget)", "threshold (mappings memorized)"
    )


def plot_threshold_bits_per_param(models: pd.DataFrame) -> plt.Figure:
    """Bits stored at the threshold (N log2 V^T) per parameter, next to Morris et al.'s 3.6."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for (protocol, arch), d in models.groupby(["protocol", "model.arch"]):
        ax.scatter(d["n_params"], d["bits_per_param"], label=f"{arch}{_protocol(protocol)}")
    ax.axhline(MORRIS_BPP, color="C3", ls="--", label=f"Morris et al. {MORRIS_BPP} (capacity)")
    ax.set_xscale("log")
    ax.set_ylim(bottom=0)
    return finish(fig, ax, "parameters", "bits at the threshold per parameter")
