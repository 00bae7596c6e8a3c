"""Threshold analysis (seed 004): the largest N memorized per group, by architecture and size.

Reads a threshold experiment (or a plain table with the same columns), never trains:

    python -m analysis.threshold results/threshold_default_20261122-072000
    python -m analysis.threshold my_probes.csv --out figures/

Every probe is a row (group columns, ``data.n_pairs``, ``memorized``). Each group's threshold is
recomputed from its probes with the searcher's own rule (``memtune.core.bisection.resolve``):
the largest N such that every probed size up to it was memorized. Only probes that ended normally
are outcomes (the shared rule of ``analysis.common.load``): an errored, killed or still running
probe is none, and a group whose deciding size has only such probes is ``unresolved`` (its
threshold is a lower bound), as in the searcher. Successes above a failure are flips, listed per
group. Bits at the threshold are N x log2(V^T), the information in the N outputs, so bits per
parameter sits on the same axis as the capacity experiment's.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.common.cli import analysis_cli
from analysis.common.jsonfile import write_json
from analysis.common.load import (
    check_one_experiment,
    completeness,
    finished_trials,
    incomplete_note,
    load_table,
    require_columns,
    with_incomplete,
)
from analysis.threshold.claims import format_claims, is_lower_bound, judge_claims
from memtune.core.bisection import flips, resolve, unresolved
from memtune.core.cli import UsageError
from memtune.experiments.threshold.config import ThresholdConfig

# "protocol" names the stopping rule (a config field; "" in stores and tables without it): the
# same model under two rules is two searches and two rows of every table, never one.
GROUP = ["protocol", "model.arch", "model.budget", "model.n_layer", "model.n_head", "seed"]
MODEL = GROUP[:-1]
REQUIRED = [*GROUP[1:], "data.n_pairs", "memorized", "n_params"]
DEFAULT_SEQ_LEN = DEFAULT_VOCAB = 10  # the seed's task, for plain tables without the columns

# The seed's tables (004 README): budget -> (best depth or heads, threshold in sequences).
SEED_MLP = {10_000: (1, 467), 30_000: (1, 1728), 90_000: (1, 3648)}
SEED_TRANSFORMER = {64_000: (32, 77), 128_000: (64, 42)}


def thresholds(df: pd.DataFrame, not_ended: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per group: threshold, first failure, flips, bits at the threshold per parameter.

    ``not_ended`` holds the probes that did not end normally (errored, killed, running): no
    outcomes, but a size only they probed that would decide the threshold is ``unresolved``.
    """
    rows = []
    not_ended = df.iloc[:0] if not_ended is None else not_ended
    every = pd.concat([df.assign(_ended=True), not_ended.assign(_ended=False)])
    for key, g in every.groupby(GROUP, sort=True):
        d, others = g[g["_ended"]], g[~g["_ended"]]
        outcomes: dict[int, bool] = {}
        for n, ok in zip(d["data.n_pairs"].astype(int), d["memorized"], strict=True):
            outcomes[n] = outcomes.get(n, True) and bool(ok)  # a repeated size keeps a failure
        lo, hi = resolve(outcomes)
        seq_len = int(g["data.seq_len"].iloc[0]) if "data.seq_len" in g else DEFAULT_SEQ_LEN
        vocab = int(g["data.vocab_size"].iloc[0]) if "data.vocab_size" in g else DEFAULT_VOCAB
        known = g["n_params"].dropna()  # a probe killed before its first report has none
        n_params = int(known.iloc[0]) if len(known) else 0
        bits = lo * seq_len * math.log2(vocab)
        ok_sizes = [n for n, good in outcomes.items() if good]
        open_sizes = unresolved(outcomes, others["data.n_pairs"].dropna().astype(int).tolist())
        rows.append({
            **dict(zip(GROUP, key, strict=True)),
            "label": g["model.name"].iloc[0] if "model.name" in g else _label(key),
            "n_params": n_params,
            "threshold": lo,
            "first_failure": hi if hi is not None else pd.NA,
            "censored": hi is None and not open_sizes,
            "threshold_upper": max(ok_sizes) if ok_sizes else 0,
            "n_flips": len(flips(outcomes)),
            "flips": json.dumps(flips(outcomes)),
            "n_probes": len(d),
            "n_errors": int((others["status"] == "ERROR").sum()),
            "unresolved": json.dumps(open_sizes),
            "resolved": not open_sizes,
            "bits_at_threshold": bits,
            "bits_per_param": bits / n_params if n_params else float("nan"),
        })  # fmt: skip
    return pd.DataFrame(rows)


def _label(key: tuple) -> str:
    _, arch, budget, n_layer, n_head, _ = key
    heads = f"-H{n_head}" if arch == "transformer" else ""
    return f"{arch}-{budget / 1000:g}k-L{n_layer}{heads}"


def per_model(th: pd.DataFrame) -> pd.DataFrame:
    """Threshold by model (over seeds): mean, min, max, and bits per parameter."""
    rows = []
    for key, d in th.groupby(MODEL, sort=True):
        rows.append({
            **dict(zip(MODEL, key, strict=True)),
            "label": d["label"].iloc[0],
            "n_params": int(d["n_params"].iloc[0]),
            "n_seeds": len(d),
            "threshold_mean": float(d["threshold"].mean()),
            "threshold_min": int(d["threshold"].min()),
            "threshold_max": int(d["threshold"].max()),
            "bits_per_param": float(d["bits_per_param"].mean()),
            "n_flips": int(d["n_flips"].sum()),
            "censored": bool(d["censored"].any()),
            "resolved": bool(d["resolved"].all()),
        })  # fmt: skip
    order = ["protocol", "model.arch", "n_params", "model.n_layer", "model.n_head"]
    return pd.DataFrame(rows).sort_values(order).reset_index(drop=True)


def best_by_budget(models: pd.DataFrame, arch: str, by: str) -> pd.DataFrame:
    """The seed's tables: per budget, the ``by`` (depth or heads) with the best mean threshold."""
    d = models[models["model.arch"] == arch]
    if d.empty:
        return pd.DataFrame()
    best = d.loc[d.groupby(["protocol", "model.budget"])["threshold_mean"].idxmax()]
    seed = SEED_MLP if arch == "mlp" else SEED_TRANSFORMER
    best = best.assign(
        seed_best=[seed.get(b, (None, None))[0] for b in best["model.budget"]],
        seed_threshold=[seed.get(b, (None, None))[1] for b in best["model.budget"]],
    )
    return best[["protocol", "model.budget", "label", by, "n_params", "threshold_mean",
                 "threshold_min", "threshold_max", "bits_per_param", "censored", "resolved",
                 "seed_best", "seed_threshold"]]  # fmt: skip


def format_report(
    th: pd.DataFrame,
    models: pd.DataFrame,
    unfinished: list[dict[str, str]] = (),
    n_trials: int = 0,
    claims: pd.DataFrame | None = None,
) -> str:
    many = th["protocol"].nunique() > 1

    def lead(protocol: str) -> str:
        """The row's indent, and its protocol column when the table holds several."""
        return f"  {protocol:<11}" if many else "  "

    lines = [
        f"memorization thresholds of {len(th)} groups ({int(th['n_probes'].sum())} probes):",
        "",
        lead("protocol") + f"{'model':<24}{'params':>9}{'seeds':>6}{'threshold':>11}{'min-max':>13}"
        f"{'bits/param':>11}{'flips':>6}",
    ]
    for _, m in models.iterrows():
        mark = ">=" if is_lower_bound(m) else ""
        spread = f"{m['threshold_min']}-{m['threshold_max']}"
        lines.append(
            lead(m["protocol"]) + f"{m['label']:<24}{m['n_params']:>9,}{m['n_seeds']:>6}"
            f"{mark + format(m['threshold_mean'], '.1f'):>11}{spread:>13}"
            f"{mark + format(m['bits_per_param'], '.3f'):>11}{m['n_flips']:>6}"
        )
    for arch, by, what in [("mlp", "model.n_layer", "depth"), ("transformer", "model.n_head",
                                                                  "heads")]:  # fmt: skip
        best = best_by_budget(models, arch, by)
        if best.empty:
            continue
        lines += ["", f"  {arch}: best {what} per budget (seed 004's table beside it)",
                  lead("protocol") + f"{'budget':>9}{'best ' + what:>12}{'threshold':>11}"
                  f"{'seed ' + what:>12}{'seed threshold':>16}"]  # fmt: skip
        for _, b in best.iterrows():
            seed_by = "-" if b["seed_best"] is None else str(b["seed_best"])
            seed_th = "-" if b["seed_threshold"] is None else str(b["seed_threshold"])
            mark = ">=" if is_lower_bound(b) else ""
            threshold = mark + format(b["threshold_mean"], ".1f")
            lines.append(
                lead(b["protocol"]) + f"{b['model.budget']:>9,}{b[by]:>12}{threshold:>11}"
                f"{seed_by:>12}{seed_th:>16}"
            )
    if claims is not None and not claims.empty:
        lines += format_claims(claims)
    if th["censored"].any():
        lines.append("  warning: '>=' marks groups that memorized the largest size probed")
    for _, g in th[~th["resolved"]].iterrows():
        lines.append(
            f"  warning: {g['label']} seed {g['seed']} is unresolved: no probe of N in "
            f"{g['unresolved']} ended normally, so its threshold {g['threshold']} is a lower bound"
        )
    if unfinished:
        lines.append(f"  warning: {incomplete_note(unfinished, n_trials)}")
    if th["n_flips"].any():
        lines.append(
            "  note: flips are sizes that failed below a memorized size; the threshold stops at "
            "the first failure (see flips in thresholds.csv)"
        )
    return "\n".join(lines)


def analyze(df: pd.DataFrame, out: Path) -> dict[str, Any]:
    """Thresholds, tables and plots under ``out``; returns a summary."""
    from analysis.threshold.plots import (
        plot_threshold_bits_per_param,
        plot_threshold_vs_depth,
        plot_threshold_vs_heads,
        plot_threshold_vs_params,
    )

    require_columns(df, REQUIRED, "threshold analysis")
    if "protocol" not in df:
        df = df.assign(protocol="")  # a store or table from before protocols were named
    # "patient" was named "converged" before one word meant one thing (capacity's status)
    df = df.assign(protocol=df["protocol"].fillna("").astype(str).replace("converged", "patient"))
    n_trials = len(df)
    ended, unfinished = finished_trials(df)
    not_ended = df.loc[df.index.difference(ended.index)]
    df = ended.dropna(subset=["memorized", "data.n_pairs", "n_params"])
    if df.empty:
        msg = "threshold analysis: no probe reported a result"
        raise UsageError(with_incomplete(msg, unfinished, n_trials))
    check_one_experiment(df, ThresholdConfig, GROUP, ["data.n_pairs"], "threshold analysis")
    if (df["n_params"] <= 0).any() or (df["data.n_pairs"] <= 0).any():
        raise UsageError("threshold analysis: n_params and data.n_pairs must be > 0 in every row")
    th = thresholds(df, not_ended)
    models = per_model(th)
    out.mkdir(parents=True, exist_ok=True)
    df.to_csv(out / "probes.csv", index=False)
    th.to_csv(out / "thresholds.csv", index=False)
    models.to_csv(out / "models.csv", index=False)
    claims = judge_claims(models)
    claims.to_csv(out / "claims.csv", index=False)
    summary = {
        "n_groups": len(th),
        "n_probes": int(len(df)),
        "n_unresolved_groups": int((~th["resolved"]).sum()),
        **completeness(df, unfinished),
        "models": models.to_dict(orient="records"),
        "groups": th.to_dict(orient="records"),
        "claims": claims.to_dict(orient="records"),
    }
    write_json(out / "summary.json", summary)
    figures = {
        "threshold_vs_params.png": plot_threshold_vs_params(models),
        "threshold_vs_depth.png": plot_threshold_vs_depth(models),
        "threshold_vs_heads.png": plot_threshold_vs_heads(models),
        "threshold_bits_per_param.png": plot_threshold_bits_per_param(models),
    }
    for fname, fig in figures.items():
        fig.savefig(out / fname, dpi=120)
    files = ["probes.csv", "thresholds.csv", "models.csv", "claims.csv", "summary.json", *figures]
    summary["outputs"] = [str(out / f) for f in files]
    summary["report"] = format_report(th, models, unfinished, n_trials, claims)
    return summary


def run(path: str, out: Path) -> tuple[str, list[str]]:
    summary = analyze(load_table(path), out)
    return summary["report"], summary["outputs"]


analyze_experiment, main = analysis_cli("threshold", __doc__, run)
