"""What every analysis's figures share: a headless backend, reference lines, empty panels.

Importing this module selects matplotlib's Agg backend: sweeps run on clusters and in CI,
where no window can open (``analysis.zipf``, which can show its figures, picks its own backend
and does not import this module).
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

MORRIS_BPP = 3.6  # Morris et al. (2025), GPT-family models, bits per parameter

__all__ = ["MORRIS_BPP", "finish", "no_data", "plt"]


def no_data(ax: plt.Axes, what: str) -> None:
    """Say so in an empty panel rather than draw empty axes that look like a result."""
    ax.text(0.5, 0.5, f"no {what} in these results", ha="center", va="center")
    ax.set_axis_off()


def finish(
    fig: plt.Figure, ax: plt.Axes, xlabel: str, ylabel: str, title: str = "", legend: int = 8
) -> plt.Figure:
    """Label the axes (and title), add the legend in a small font, tighten; return the figure."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if legend:
        ax.legend(fontsize=legend)
    fig.tight_layout()
    return fig
