"""Threshold figures: each function takes DataFrames and returns a Figure; nothing at import.

A threshold that is only a lower bound is drawn as one: an open upward triangle, never the filled
dot of a measured threshold, with its own legend entry. A group that memorized every size up to
the search's cap ("lower bound (cap)") or whose deciding probe never ended ("lower bound
(unresolved)") could lie anywhere above its point; a filled dot there would read as the answer.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.common.figures import MORRIS_BPP, finish, no_data, plt
from analysis.threshold.claims import is_lower_bound

BOUND_MARKER = {"marker": "^", "ms": 9, "mfc": "none", "mew": 1.5, "ls": "none"}
BOUND_GID = "lower_bound"  # the artists that draw bounds, for a test to find without pixels


def bound_kind(m: pd.Series) -> str:
    """Why a model's threshold is a lower bound: "cap", "unresolved" or "" (measured).

    Args:
        m: one row of ``per_model`` (needs ``censored`` and ``resolved``).
    """
    if not is_lower_bound(m):
        return ""
    return "cap" if bool(m["censored"]) else "unresolved"


def _bounds(d: pd.DataFrame) -> pd.Series:
    """Each row's ``bound_kind`` (an empty Series for an empty frame)."""
    return d.apply(bound_kind, axis=1) if len(d) else pd.Series([], dtype=str)


def _mark_bounds(ax: plt.Axes, d: pd.DataFrame, x: str, y: str, color: str) -> None:
    """Open upward triangles over the rows of ``d`` that are lower bounds."""
    b = d[(_bounds(d) != "").to_numpy()]
    if len(b):
        ax.plot(b[x], b[y], color=color, gid=BOUND_GID, **BOUND_MARKER)


def _bound_legend(ax: plt.Axes, d: pd.DataFrame) -> None:
    """One legend entry per kind of bound drawn (black: the shape is what it says)."""
    kinds = set(_bounds(d))
    for kind in ("cap", "unresolved"):
        if kind in kinds:
            ax.plot([], [], color="k", label=f"lower bound ({kind})", **BOUND_MARKER)


def _protocol(p: str) -> str:
    """A label suffix naming the stopping protocol, when the table has one."""
    return f" ({p})" if p else ""


def _threshold_errorbar(ax: plt.Axes, d: pd.DataFrame, x: str, **kw) -> None:
    """The mean over seeds with their range: filled dots where measured, triangles at bounds."""
    err = np.vstack(
        [d["threshold_mean"] - d["threshold_min"], d["threshold_max"] - d["threshold_mean"]]
    )
    bars = ax.errorbar(d[x], d["threshold_mean"], yerr=err, fmt="-", capsize=3, **kw)
    color = bars.lines[0].get_color()
    exact = d[(_bounds(d) == "").to_numpy()]
    ax.plot(exact[x], exact["threshold_mean"], "o", color=color)
    _mark_bounds(ax, d, x, "threshold_mean", color)


def plot_threshold_vs_params(models: pd.DataFrame) -> plt.Figure:
    """Memorization threshold vs actual parameters, by architecture (best model per budget)."""
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for k, ((protocol, arch), d) in enumerate(models.groupby(["protocol", "model.arch"])):
        best = d.loc[d.groupby("model.budget")["threshold_mean"].idxmax()].sort_values("n_params")
        ax.scatter(d["n_params"], d["threshold_mean"], s=12, alpha=0.4, color=f"C{k}")
        label = f"{arch}{_protocol(protocol)}, best per budget"
        _threshold_errorbar(ax, best, "n_params", color=f"C{k}", label=label)
        _mark_bounds(ax, d, "n_params", "threshold_mean", f"C{k}")
    _bound_legend(ax, models)
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
    _bound_legend(ax, d)
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
    _bound_legend(ax, d)
    ax.set_xscale("log", base=2)
    return finish(
        fig, ax, "attention heads (d_model solved for the budget)", "threshold (mappings memorized)"
    )


def plot_threshold_bits_per_param(models: pd.DataFrame) -> plt.Figure:
    """Bits stored at the threshold (N log2 V^T) per parameter, next to Morris et al.'s 3.6."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for k, ((protocol, arch), d) in enumerate(models.groupby(["protocol", "model.arch"])):
        exact = d[(_bounds(d) == "").to_numpy()]
        ax.scatter(exact["n_params"], exact["bits_per_param"], color=f"C{k}",
                   label=f"{arch}{_protocol(protocol)}")  # fmt: skip
        _mark_bounds(ax, d, "n_params", "bits_per_param", f"C{k}")
    _bound_legend(ax, models)
    ax.axhline(MORRIS_BPP, color="C3", ls="--", label=f"Morris et al. {MORRIS_BPP} (capacity)")
    ax.set_xscale("log")
    ax.set_ylim(bottom=0)
    return finish(fig, ax, "parameters", "bits at the threshold per parameter")
