"""Predict which training sequences get memorized (seed 003): features, classifiers, report.

Reads a predict experiment (``python sweeps/predict.py``): every trial stored the corpus, the
k-extractable labels of every distinct sequence at each checkpoint and its token
log-probabilities in its Tune checkpoint. It never trains. Roles by model size, each can be
overridden: the smallest model is the **reference** (its log-probabilities are the surprisal
features, like Pythia-70M's), the next one the **baseline** (the seed's baseline: the target
memorizes what this smaller model memorized), the largest the **target** whose final labels are
predicted. One row per (distinct sequence, seed).

    python -m analysis.predict results/predict_default_20261122-093000
    python -m analysis.predict results/predict_default_20261122-093000/analysis/dataset.parquet

Classifiers (scikit-learn): logistic regression and gradient boosting on every feature, and a
logistic regression on the duplicate count alone. Evaluation is out-of-fold over a 5-fold split
stratified by label and grouped by sequence content, so copies of one sequence (and its rows of
other seeds) are never on both sides; each fold's decision threshold maximizes F1 on a held-out
third of its training part. Writes ``dataset.parquet``, ``metrics.csv``/``metrics.md`` (predictor
x precision, recall, F1, AUROC, AUPRC), ``importance.csv`` (permutation importance, drop in
AUPRC), ``when.csv`` (stretch: memorized by each checkpoint; first-memorized step),
``summary.json``, ``pr_curve.png``, ``roc_curve.png``, ``importance.png``, ``when_memorized.png``.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.common.cli import analysis_cli
from analysis.common.jsonfile import write_json
from analysis.common.load import (
    ENDED_NORMALLY,
    TABLE_SUFFIXES,
    finished_trials,
    incomplete_note,
    load_table,
    read_store,
    require_columns,
)
from analysis.common.store import Store
from analysis.predict.features import FEATURES, build_features
from memtune.core.cli import ArgumentParser, UsageError

N_SPLITS = 5  # outer folds; fewer when there are fewer positive groups
INNER_SPLITS = 3  # a grouped third of each training part chooses the decision threshold
N_REPEATS = 5  # permutations per feature and fold
SEED = 0  # of the splits, the boosting and the permutations
DATASET_COLUMNS = ["seed", "seq_id", "group", "label", "baseline_pred", "baseline_score"]


def sequence_group(tokens: np.ndarray) -> str:
    """A content hash: equal token sequences, and only those, share a group."""
    return hashlib.sha1(np.asarray(tokens, dtype=np.int64).tobytes()).hexdigest()[:16]


# ---------------------------------------------------------------- reading the experiment


def _checkpoint_dir(trial_path: Store) -> Store | None:
    """The newest checkpoint of a trial that holds its tables (None: the trial did not finish)."""
    found = trial_path.glob("checkpoint_*/labels.parquet")
    return found[-1].at(found[-1].path.rsplit("/", 1)[0]) if found else None


def load_trials(path: str | Path) -> pd.DataFrame:
    """One row per finished trial: trial_id, model, n_params, seed and its checkpoint folder."""
    p = Store.open(path)  # a local path or a URI (s3://...)
    store = read_store(p)
    final = store.table.set_index("trial_id")
    require_columns(final, ["model.name", "seed", "n_params"], "predict analysis")
    _, unfinished = finished_trials(final.reset_index())  # the shared rule: only ended trials
    if unfinished:
        print(f"[memtune] warning: {incomplete_note(unfinished, len(final))}", file=sys.stderr)
    rows = []
    for t in store.trials:
        ckpt = _checkpoint_dir(p.child(p.at(t.path).name))  # by name: moved stores work too
        if ckpt is None or t.trial_id not in final.index or t.status != ENDED_NORMALLY:
            continue
        r = final.loc[t.trial_id]
        rows.append(
            {
                "trial_id": t.trial_id,
                "model": str(r["model.name"]),
                "n_params": int(r["n_params"]),
                "seed": int(r["seed"]),
                "checkpoint": ckpt,
            }
        )
    if not rows:
        raise UsageError(
            f"experiment {p} has no finished predict trial (no checkpoint_*/labels.parquet); "
            "is it a predict experiment, and did its trials finish?"
        )
    return pd.DataFrame(rows)


def pick_roles(
    trials: pd.DataFrame,
    reference: str | None = None,
    baseline: str | None = None,
    target: str | None = None,
) -> dict[str, str]:
    """Reference, baseline and target model names: by size unless given."""
    sizes = trials.groupby("model")["n_params"].first().sort_values()
    names = list(sizes.index)
    for role, given in [("reference", reference), ("baseline", baseline), ("target", target)]:
        if given is not None and given not in names:
            raise UsageError(f"--{role} {given!r} is not a model of the experiment; has {names}")
    if len(names) < 3 and None in (reference, baseline, target):
        raise UsageError(
            f"predict analysis needs 3 model sizes (reference, baseline, target), found "
            f"{len(names)}: {names}; or name them with --reference, --baseline and --target"
        )
    roles = {
        "reference": reference or names[0],
        "baseline": baseline or names[1],
        "target": target or names[-1],
    }
    if len(set(roles.values())) < 3:
        raise UsageError(f"reference, baseline and target must be 3 different models, got {roles}")
    return roles


def _read(ckpt: Store | Path, stem: str) -> pd.DataFrame:
    if isinstance(ckpt, Store):
        return ckpt.child(f"{stem}.parquet").read_table()
    return pd.read_parquet(ckpt / f"{stem}.parquet")


def _corpus_key(corpus: pd.DataFrame) -> str:
    h = hashlib.sha1()
    for t in corpus["tokens"]:
        h.update(np.asarray(t, dtype=np.int64).tobytes())
    h.update(corpus["count"].to_numpy(np.int64).tobytes())
    return h.hexdigest()


def build_dataset(trials: pd.DataFrame, roles: dict[str, str]) -> pd.DataFrame:
    """Features and labels, one row per (distinct sequence, seed) with a target trial.

    Columns: ``DATASET_COLUMNS``, the features, ``first_memorized_step`` (the first checkpoint
    at which the target extracts the sequence; NaN if never) and ``memorized_at_<step>`` for
    every checkpoint.
    """
    by = {(r.model, r.seed): r.checkpoint for r in trials.itertuples()}
    seeds = sorted(s for m, s in by if m == roles["target"] and (roles["baseline"], s) in by)
    if not seeds:
        raise UsageError(
            f"no seed has both a finished target ({roles['target']}) and baseline "
            f"({roles['baseline']}) trial"
        )
    ref_seeds = sorted(s for m, s in by if m == roles["reference"])
    if not ref_seeds:
        raise UsageError(f"no finished trial of the reference model {roles['reference']}")
    keys = {_corpus_key(_read(c, "corpus")) for c in trials["checkpoint"]}
    if len(keys) > 1:
        raise UsageError(
            "the trials were trained on different corpora; the labels of different models must "
            "come from one corpus (one corpus config per experiment)"
        )
    frames = []
    for s in seeds:
        tgt, base = by[(roles["target"], s)], by[(roles["baseline"], s)]
        ref = by[(roles["reference"], s if s in ref_seeds else ref_seeds[0])]
        corpus = _read(tgt, "corpus").sort_values("seq_id").reset_index(drop=True)
        lp = _read(ref, "token_logprobs").set_index("seq_id").loc[corpus["seq_id"], "logprobs"]
        feats = build_features(corpus, np.stack(lp.to_numpy()))
        labels = _read(tgt, "labels")
        last = labels["step"].max()
        wide = labels.pivot(index="seq_id", columns="step", values="extractable").sort_index()
        first = wide.idxmax(axis=1).where(wide.any(axis=1))
        fin = labels[labels["step"] == last].set_index("seq_id")
        b = _read(base, "labels")
        b = b[b["step"] == b["step"].max()].set_index("seq_id")
        df = feats.assign(
            seed=s,
            group=[sequence_group(t) for t in corpus["tokens"]],
            count=corpus["count"].to_numpy(),
            domain=corpus["domain"].to_numpy() if "domain" in corpus else 0,
            label=fin.loc[feats["seq_id"], "extractable"].to_numpy(bool),
            mem_score=fin.loc[feats["seq_id"], "mem_score"].to_numpy(float),
            baseline_pred=b.loc[feats["seq_id"], "extractable"].to_numpy(bool),
            baseline_score=b.loc[feats["seq_id"], "mem_score"].to_numpy(float),
            first_memorized_step=first.loc[feats["seq_id"]].to_numpy(float),
        )
        for step in wide.columns:
            df[f"memorized_at_{step}"] = wide.loc[feats["seq_id"], step].to_numpy(bool)
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


# ---------------------------------------------------------------- classifiers


def group_folds(
    y: np.ndarray, groups: np.ndarray, n_splits: int, seed: int = SEED
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified folds that keep every group (identical sequences) on one side.

    Args:
        y: (N,) bool labels.
        groups: (N,) group of each row; rows of one group never straddle train and test.
        n_splits: folds wanted; lowered to the number of groups holding a positive.
    Returns:
        (train_idx, test_idx) pairs whose test parts cover every row once.
    """
    from sklearn.model_selection import StratifiedGroupKFold

    pos_groups = len(np.unique(groups[y]))
    k = min(n_splits, pos_groups, len(np.unique(groups[~y])))
    if k < 2:
        raise UsageError(
            f"predict analysis: {pos_groups} distinct memorized sequence(s) among {len(y)} rows; "
            "a classifier needs at least 2 (train the target longer or on more duplicates)"
        )
    splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(y)), y, groups))


def make_classifier(name: str) -> Any:
    """A fresh, unfitted scikit-learn classifier: ``logistic`` or ``gradient_boosting``."""
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if name == "logistic":
        return make_pipeline(
            StandardScaler(), LogisticRegression(max_iter=2000, class_weight="balanced")
        )
    if name == "gradient_boosting":
        # the exact (not histogram) booster: measured 0.55 s against 3.0 s for the histogram one
        # on 2,048 rows, one thread; unweighted, the fold's threshold handles the imbalance
        return GradientBoostingClassifier(
            n_estimators=100, max_depth=3, learning_rate=0.1, random_state=SEED
        )
    raise ValueError(f"unknown classifier {name!r}")


def best_f1_threshold(y: np.ndarray, score: np.ndarray) -> float:
    """The score threshold with the highest F1 on (y, score); predicts score >= threshold."""
    from sklearn.metrics import precision_recall_curve

    p, r, t = precision_recall_curve(y, score)
    f1 = np.where(p + r > 0, 2 * p * r / np.maximum(p + r, 1e-12), 0.0)[:-1]
    return float(t[np.argmax(f1)]) if len(t) else 0.5


def _proba(model: Any, X: np.ndarray) -> np.ndarray:
    return model.predict_proba(X)[:, 1]


def out_of_fold(
    name: str,
    X: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    folds: list[tuple[np.ndarray, np.ndarray]],
    importance: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Out-of-fold probabilities and thresholded predictions of one classifier.

    The threshold of each fold maximizes F1 on a grouped, stratified third of its training part,
    predicted by a model fitted on the other two thirds, so no test row influences its own
    decision.

    Returns:
        proba (N,), pred (N,) bool, and permutation importances (n_folds, n_features) on the
        test folds (drop in average precision), or None.
    """
    from sklearn.inspection import permutation_importance

    proba, pred = np.zeros(len(y)), np.zeros(len(y), dtype=bool)
    imps = []
    for train, test in folds:
        itr, ite = group_folds(y[train], groups[train], INNER_SPLITS, seed=SEED + 1)[0]
        m = make_classifier(name).fit(X[train][itr], y[train][itr])
        thr = best_f1_threshold(y[train][ite], _proba(m, X[train][ite]))
        model = make_classifier(name).fit(X[train], y[train])
        proba[test] = _proba(model, X[test])
        pred[test] = proba[test] >= thr
        if importance:
            r = permutation_importance(
                model, X[test], y[test], scoring="average_precision",
                n_repeats=N_REPEATS, random_state=SEED,
            )  # fmt: skip
            imps.append(r.importances_mean)
    return proba, pred, (np.array(imps) if importance else None)


def score_metrics(y: np.ndarray, pred: np.ndarray, score: np.ndarray) -> dict[str, float]:
    """Precision, recall and F1 of ``pred``; AUROC and AUPRC of the continuous ``score``."""
    from sklearn.metrics import (
        average_precision_score,
        f1_score,
        precision_score,
        recall_score,
        roc_auc_score,
    )

    return {
        "precision": float(precision_score(y, pred, zero_division=0)),
        "recall": float(recall_score(y, pred, zero_division=0)),
        "f1": float(f1_score(y, pred, zero_division=0)),
        "auroc": float(roc_auc_score(y, score)),
        "auprc": float(average_precision_score(y, score)),
        "n_predicted": int(pred.sum()),
    }


def feature_columns(df: pd.DataFrame) -> list[str]:
    """The classifier's inputs: every known feature the table has, domain indicators last."""
    return [f for f in FEATURES if f in df.columns] + sorted(
        c for c in df.columns if c.startswith("domain_")
    )


def check_dataset(df: pd.DataFrame) -> pd.DataFrame:
    require_columns(df, DATASET_COLUMNS + ["log_count"], "predict analysis")
    df = df.copy()
    for c in ["label", "baseline_pred"]:
        df[c] = df[c].astype(bool)
    if not df["label"].any() or df["label"].all():
        raise UsageError(
            f"predict analysis: the target memorized {int(df['label'].sum())} of {len(df)} "
            "sequences; a classifier needs both classes"
        )
    return df


def contested(df: pd.DataFrame) -> np.ndarray:
    """Rows whose duplicate count is shared by memorized and non-memorized rows, (N,) bool.

    Outside this band the count alone decides; inside it, whatever a classifier gains over the
    count is the information the other features carry.
    """
    key = df["count"] if "count" in df else df["log_count"].round(9)
    both = df.groupby(key)["label"].agg(lambda v: bool(v.any() and not v.all()))
    return key.map(both).to_numpy(bool)


def evaluate(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, np.ndarray]]:
    """Metrics of every predictor, permutation importances, and the scores for the curves.

    Returns:
        metrics: one row per predictor (logistic, gradient_boosting, count_only, baseline);
        importance: one row per (classifier, feature) with mean and std over folds;
        scores: predictor -> (N,) score behind its curves.
    """
    feats = feature_columns(df)
    X = df[feats].to_numpy(np.float64)
    y = df["label"].to_numpy(bool)
    groups = df["group"].to_numpy()
    folds = group_folds(y, groups, N_SPLITS)
    rows, imp_rows, scores = [], [], {}
    for name in ["logistic", "gradient_boosting"]:
        proba, pred, imps = out_of_fold(name, X, y, groups, folds)
        rows.append({"predictor": name, **score_metrics(y, pred, proba)})
        scores[name] = proba
        for j, f in enumerate(feats):
            imp_rows.append(
                {"classifier": name, "feature": f, "importance_auprc": float(imps[:, j].mean()),
                 "std_over_folds": float(imps[:, j].std())}
            )  # fmt: skip
    Xc = df[["log_count"]].to_numpy(np.float64)
    proba, pred, _ = out_of_fold("logistic", Xc, y, groups, folds, importance=False)
    rows.append({"predictor": "count_only", **score_metrics(y, pred, proba)})
    scores["count_only"] = proba
    base = df["baseline_score"].to_numpy(float)
    rows.append(
        {"predictor": "baseline", **score_metrics(y, df["baseline_pred"].to_numpy(bool), base)}
    )
    scores["baseline"] = base
    metrics = pd.DataFrame(rows)
    metrics["positive_rate"] = float(y.mean())
    metrics["n_folds"] = len(folds)
    band = contested(df)
    if band.any() and y[band].any() and not y[band].all():
        from sklearn.metrics import average_precision_score, roc_auc_score

        metrics["auroc_contested"] = [roc_auc_score(y[band], scores[p][band]) for p in scores]
        metrics["auprc_contested"] = [
            average_precision_score(y[band], scores[p][band]) for p in scores
        ]
        metrics["positive_rate_contested"] = float(y[band].mean())
        metrics["n_contested"] = int(band.sum())
    importance = pd.DataFrame(imp_rows).sort_values(
        ["classifier", "importance_auprc"], ascending=[True, False]
    )
    return metrics, importance, scores


def when_memorized(df: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Stretch: predict when a sequence becomes memorized, from the same data-only features.

    (1) For each checkpoint t, gradient boosting predicts "memorized by t" (out of fold, grouped):
    AUROC and AUPRC per t. (2) Among sequences the target memorized by the end, a gradient-boosted
    regressor predicts the first checkpoint at which it did; Spearman's rho of its out-of-fold
    predictions with the truth (1 = perfect order), next to the rho of the duplicate count
    with the truth (negative when more copies mean earlier memorization).
    """
    from scipy.stats import spearmanr
    from sklearn.ensemble import GradientBoostingRegressor
    from sklearn.metrics import average_precision_score, roc_auc_score
    from sklearn.model_selection import GroupKFold

    feats = feature_columns(df)
    X = df[feats].to_numpy(np.float64)
    groups = df["group"].to_numpy()
    steps = sorted(int(c.rsplit("_", 1)[1]) for c in df.columns if c.startswith("memorized_at_"))
    rows = []
    for t in steps:
        y = df[f"memorized_at_{t}"].to_numpy(bool)
        row = {"step": t, "positive_rate": float(y.mean()), "n_memorized": int(y.sum())}
        if len(np.unique(groups[y])) >= 2 and (~y).any():
            folds = group_folds(y, groups, N_SPLITS)
            proba = np.zeros(len(y))
            for train, test in folds:
                model = make_classifier("gradient_boosting").fit(X[train], y[train])
                proba[test] = _proba(model, X[test])
            row.update(auroc=float(roc_auc_score(y, proba)),
                       auprc=float(average_precision_score(y, proba)))  # fmt: skip
        rows.append(row)
    summary: dict[str, Any] = {"n_eventually_memorized": int(df["label"].sum())}
    rows_mem = np.flatnonzero(df["label"].to_numpy(bool) & df["first_memorized_step"].notna())
    mem = df.iloc[rows_mem]  # positions, not labels: a table read from a file may have any index
    n_groups = mem["group"].nunique()
    if n_groups >= 10 and mem["first_memorized_step"].nunique() >= 2:
        Xm, gm = X[rows_mem], groups[rows_mem]
        ym = mem["first_memorized_step"].to_numpy(float)
        pred = np.zeros(len(ym))
        for train, test in GroupKFold(n_splits=min(N_SPLITS, n_groups)).split(Xm, ym, gm):
            reg = GradientBoostingRegressor(n_estimators=100, max_depth=2, random_state=SEED)
            pred[test] = reg.fit(Xm[train], ym[train]).predict(Xm[test])
        summary["first_step_spearman_features"] = float(spearmanr(pred, ym).statistic)
        summary["first_step_spearman_count_only"] = float(spearmanr(mem["log_count"], ym).statistic)
    return pd.DataFrame(rows), summary


# ---------------------------------------------------------------- report


def markdown_table(metrics: pd.DataFrame) -> str:
    cols = ["predictor", "precision", "recall", "f1", "auroc", "auprc", "n_predicted"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in metrics[cols].itertuples(index=False):
        cells = [f"{v:.3f}" if isinstance(v, float) else str(v) for v in r]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def format_report(summary: dict[str, Any]) -> str:
    roles = summary.get("roles", {})
    lines = [
        f"memorization prediction: {summary['n_rows']} rows ({summary['n_sequences']} distinct "
        f"sequences x {summary['n_seeds']} seed(s)), positive rate "
        f"{summary['positive_rate']:.2%} ({summary['n_positive']} memorized)",
    ]
    if roles:
        lines.append(
            f"  target {roles['target']}, baseline {roles['baseline']} (its labels), reference "
            f"{roles['reference']} (surprisal features); {summary['n_folds']}-fold grouped CV"
        )
    lines.append(
        f"  {'predictor':<20}{'precision':>10}{'recall':>8}{'F1':>7}{'AUROC':>8}{'AUPRC':>8}"
    )
    for r in summary["metrics"]:
        lines.append(
            f"  {r['predictor']:<20}{r['precision']:>10.3f}{r['recall']:>8.3f}{r['f1']:>7.3f}"
            f"{r['auroc']:>8.3f}{r['auprc']:>8.3f}"
        )
    lines.append(f"  {'chance':<20}{'':>33}{0.5:>8.3f}{summary['positive_rate']:>8.3f}")
    first = summary["metrics"][0]
    if "n_contested" in first:
        per = ", ".join(
            f"{r['predictor']} {r['auroc_contested']:.3f}/{r['auprc_contested']:.3f}"
            for r in summary["metrics"]
        )
        lines.append(
            f"  contested band ({first['n_contested']} rows whose duplicate count occurs with "
            f"both labels, positive rate {first['positive_rate_contested']:.1%}), AUROC/AUPRC: "
            f"{per}"
        )
    for clf, top in summary["top_features"].items():
        items = ", ".join(f"{f} {v:+.3f}" for f, v in top)
        lines.append(f"  top features of {clf} (drop in AUPRC when permuted): {items}")
    w = summary.get("when", {})
    if w.get("per_step"):
        per = ", ".join(
            f"{r['step']}: {r['positive_rate']:.1%}"
            + (f" AUROC {r['auroc']:.3f}" if "auroc" in r and r["auroc"] == r["auroc"] else "")
            for r in w["per_step"]
        )
        lines.append(f"  memorized by step (rate, gradient boosting AUROC): {per}")
    if "first_step_spearman_features" in w:
        lines.append(
            f"  first-memorized step among memorized: Spearman rho of the prediction "
            f"{w['first_step_spearman_features']:.3f}; of the duplicate count "
            f"{w['first_step_spearman_count_only']:.3f}"
        )
    return "\n".join(lines)


def analyze(df: pd.DataFrame, out: Path, roles: dict[str, str] | None = None) -> dict[str, Any]:
    """Evaluate every predictor on the dataset, write tables and figures under ``out``."""
    from threadpoolctl import threadpool_limits

    from analysis.predict.plots import plot_importance, plot_pr, plot_roc, plot_when

    df = check_dataset(df)
    # one OpenMP thread: measured 2.5x less wall time for gradient boosting on a shared 2-core
    # machine, where its default thread pool spins against the sweep's trials
    with threadpool_limits(limits=1):
        metrics, importance, scores = evaluate(df)
        when, when_summary = when_memorized(df)
    out.mkdir(parents=True, exist_ok=True)
    scored = df.assign(**{f"oof_score_{k}": v for k, v in scores.items() if k != "baseline"})
    scored.to_parquet(out / "dataset.parquet")
    metrics.to_csv(out / "metrics.csv", index=False)
    (out / "metrics.md").write_text(markdown_table(metrics) + "\n")
    importance.to_csv(out / "importance.csv", index=False)
    when.to_csv(out / "when.csv", index=False)
    y = df["label"].to_numpy(bool)
    top = {
        clf: [(r.feature, r.importance_auprc) for r in g.head(3).itertuples()]
        for clf, g in importance.groupby("classifier")
    }
    summary: dict[str, Any] = {
        "n_rows": len(df),
        "n_sequences": int(df["group"].nunique()),
        "n_seeds": int(df["seed"].nunique()),
        "n_positive": int(y.sum()),
        "positive_rate": float(y.mean()),
        "n_folds": int(metrics["n_folds"].iloc[0]),
        "features": feature_columns(df),
        "metrics": metrics.to_dict(orient="records"),
        "top_features": top,
        "when": {"per_step": when.to_dict(orient="records"), **when_summary},
    }
    if roles:
        summary["roles"] = roles
    write_json(out / "summary.json", summary)
    figures = {
        "pr_curve.png": plot_pr(y, scores, df["baseline_pred"].to_numpy(bool)),
        "roc_curve.png": plot_roc(y, scores),
        "importance.png": plot_importance(importance),
        "when_memorized.png": plot_when(df),
    }
    for fname, fig in figures.items():
        fig.savefig(out / fname, dpi=110)
    names = ["dataset.parquet", "metrics.csv", "metrics.md", "importance.csv", "when.csv"]
    summary["outputs"] = [str(out / f) for f in [*names, "summary.json", *figures]]
    return summary


def load_dataset(
    path: str | Path,
    reference: str | None = None,
    baseline: str | None = None,
    target: str | None = None,
) -> tuple[pd.DataFrame, dict[str, str] | None]:
    """A dataset table as it is, or the one built from an experiment's trials."""
    p = Store.open(path)
    if p.suffix in TABLE_SUFFIXES:
        return load_table(p.uri), None
    trials = load_trials(p)
    roles = pick_roles(trials, reference, baseline, target)
    return build_dataset(trials, roles), roles


def run(
    path: str,
    out: Path,
    reference: str | None = None,
    baseline: str | None = None,
    target: str | None = None,
) -> tuple[str, list[str]]:
    df, roles = load_dataset(path, reference, baseline, target)
    summary = analyze(df, out, roles)
    return format_report(summary), summary["outputs"]


def _options(parser: ArgumentParser) -> None:
    parser.add_argument("--reference", default=None, help="model whose surprisal is a feature")
    parser.add_argument("--baseline", default=None, help="model whose labels are the baseline")
    parser.add_argument("--target", default=None, help="model whose labels are predicted")


analyze_experiment, main = analysis_cli("predict", __doc__, run, _options)
