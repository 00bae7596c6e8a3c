"""Figures of the memorization-prediction analysis (seed 003): each returns a Figure.

Inputs are ``analysis.predict``'s: the labels, each predictor's out-of-fold scores, the
permutation importances and the dataset table. Nothing runs at import.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.common.figures import plt

LABELS = {
    "logistic": "logistic regression",
    "gradient_boosting": "gradient boosting",
    "count_only": "duplicate count alone",
    "baseline": "baseline: smaller model's score",
}


def plot_pr(y: np.ndarray, scores: dict[str, np.ndarray], baseline_pred: np.ndarray) -> plt.Figure:
    """Precision-recall curve of every predictor; the baseline's labels as one point."""
    from sklearn.metrics import average_precision_score, precision_recall_curve

    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    for name, s in scores.items():
        p, r, _ = precision_recall_curve(y, s)
        ax.step(
            r,
            p,
            where="post",
            label=f"{LABELS.get(name, name)} (AP {average_precision_score(y, s):.3f})",
        )
    tp = (baseline_pred & y).sum()
    if baseline_pred.any():
        ax.scatter(
            [tp / max(y.sum(), 1)], [tp / baseline_pred.sum()], color="k", zorder=5,
            label="baseline: smaller model's labels",
        )  # fmt: skip
    ax.axhline(y.mean(), color="0.5", ls="--", lw=1, label=f"chance ({y.mean():.3f})")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_title("memorized or not: precision-recall (out of fold)", fontsize=9)
    ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return fig


def plot_roc(y: np.ndarray, scores: dict[str, np.ndarray]) -> plt.Figure:
    """ROC curve of every predictor, with the chance diagonal."""
    from sklearn.metrics import roc_auc_score, roc_curve

    fig, ax = plt.subplots(figsize=(5, 4.5))
    for name, s in scores.items():
        fpr, tpr, _ = roc_curve(y, s)
        ax.plot(fpr, tpr, label=f"{LABELS.get(name, name)} (AUROC {roc_auc_score(y, s):.3f})")
    ax.plot([0, 1], [0, 1], color="0.5", ls="--", lw=1)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title("memorized or not: ROC (out of fold)", fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


def plot_importance(importance: pd.DataFrame) -> plt.Figure:
    """Permutation importance (drop in AUPRC) of each feature, one bar group per classifier."""
    feats = list(
        importance.groupby("feature")["importance_auprc"].max().sort_values(ascending=True).index
    )
    clfs = sorted(importance["classifier"].unique())
    fig, ax = plt.subplots(figsize=(6, 0.35 * len(feats) + 1.2))
    h = 0.8 / len(clfs)
    for i, clf in enumerate(clfs):
        g = importance[importance["classifier"] == clf].set_index("feature").loc[feats]
        ax.barh(
            np.arange(len(feats)) + i * h, g["importance_auprc"], height=h,
            xerr=g["std_over_folds"], label=LABELS.get(clf, clf),
        )  # fmt: skip
    ax.set_yticks(np.arange(len(feats)) + h * (len(clfs) - 1) / 2, feats)
    ax.axvline(0, color="0.3", lw=0.8)
    ax.set_xlabel("drop in AUPRC when permuted (mean ± sd over folds)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_when(df: pd.DataFrame) -> plt.Figure:
    """Share of sequences memorized at each checkpoint, by duplicate count (binned)."""
    steps = sorted(int(c.rsplit("_", 1)[1]) for c in df.columns if c.startswith("memorized_at_"))
    edges = [0, 1, 2, 4, 8, 16, 32, np.inf]
    names = ["1", "2", "3-4", "5-8", "9-16", "17-32", ">32"]
    bins = pd.cut(df["count"], edges, labels=names) if "count" in df else None
    fig, ax = plt.subplots(figsize=(7, 4))
    if bins is not None:
        colors = plt.cm.viridis(np.linspace(0, 0.9, len(names)))
        for name, color in zip(names, colors, strict=True):
            sel = bins == name
            if sel.any():
                rate = [df.loc[sel, f"memorized_at_{t}"].mean() for t in steps]
                ax.plot(
                    steps, rate, marker="o", color=color, label=f"{name} copies (n={sel.sum()})"
                )
    ax.set_xlabel("training step (checkpoint)")
    ax.set_ylabel("share of sequences k-extractable")
    ax.set_title("when sequences become memorized, by duplicate count", fontsize=9)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1))  # outside: curves span 0..1
    fig.tight_layout()
    return fig
