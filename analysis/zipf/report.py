"""Zipf-frequency memorization analysis (seed 001): loss and accuracy vs presentations.

Reads a Zipf experiment (the ``zipf_records.parquet`` of every trial, found through Tune's
experiment store) or a plain records table (CSV or parquet with the records' columns), never
trains, and writes figures, a table of fits and a summary:

    python -m analysis.zipf results/zipf_default_20261122-093000
    python -m analysis.zipf results/zipf_default_20261122-093000 --experiment large_rope \
        --rank-selection low --comparative --no-show-plots
    python -m analysis.zipf records.parquet --out figures/

Processed data (every trial's records joined, with trial status) is cached as parquet under
``<out>/cache`` (or ``--cache-dir``), keyed by a hash of the inputs' (path, size, mtime): a
second run reads the cache without starting Ray, a changed or added input builds a new one, and
``--force-reprocess`` rebuilds it. Fits, per experiment, of loss (bits/token) against the
presentations n a sequence had when it was evaluated, over every (sequence, evaluation):

- power law: loss = a * n^-b, OLS in log-log (b > 0: loss falls as a power of n);
- logistic in log n: loss = L0 / (1 + (n / n_half)^k), least squares (n_half: the presentations
  at which the loss is half its start; k: how sharp the fall is);
- accuracy: the presentations at which a sequence first reaches 100% token accuracy.
"""

from __future__ import annotations

import hashlib
import os
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.common.cli import analysis_parser, output_dir, print_report
from analysis.common.fit import FitResult, fit_linear
from analysis.common.jsonfile import write_json
from analysis.common.load import (
    TABLE_SUFFIXES,
    check_one_experiment,
    completeness,
    finished_trials,
    incomplete_note,
    load_table,
    read_store,
    require_columns,
    with_incomplete,
)
from analysis.common.store import Store
from analysis.zipf.config import (
    CACHE_SUBDIR,
    DEFAULT_EXPERIMENT,
    DEFAULT_RANK_SELECTION,
    PROCESS_VERSION,
    RANK_SELECTIONS,
    RECORDS_GLOB,
    SEED_EXPERIMENTS,
)
from memtune.core.cli import UsageError
from memtune.experiments.zipf.config import RECORDS_FILE, TRIAL_COLUMNS

REQUIRED = ["experiment", "seed", "rank", "step", "presentations", "loss_bits", "accuracy"]
COMPARISONS = {  # --comparative: groups of experiments that differ in this factor only
    "heads": "n_head",
    "layers": "n_layer",
    "pos": "pos_emb",
    "lr": "lr",
}
# What a trial is, apart from its name, seed and size: experiments that differ in one of these
# and in nothing else form a comparison.
ARCH_FACTORS = [c for c in TRIAL_COLUMNS if c not in ("experiment", "seed", "n_params")]


# ---------------------------------------------------------------------------- inputs and cache


def input_files(path: Store) -> list[Store]:
    """The files the processed data depends on: a table, or an experiment's state and records."""
    if path.suffix in TABLE_SUFFIXES:
        return [path]
    files = path.glob("experiment_state-*.json") + path.glob(RECORDS_GLOB)
    return files + path.glob("*/params.json")


def cache_key(path: Store, files: list[Store]) -> str:
    """sha256 of (relative path, size, mtime in ns) of every input, and the processing version."""
    h = hashlib.sha256(f"zipf-v{PROCESS_VERSION}".encode())
    root = path.path if path.is_dir() else path.path.rsplit("/", 1)[0]
    for f in files:
        size, mtime = f.stat()
        h.update(f"{f.path.removeprefix(root)}|{size}|{mtime}\n".encode())
    return h.hexdigest()[:16]


def load_experiment_records(path: Store) -> pd.DataFrame:
    """Every trial's records, with trial_id and status, through Tune's experiment store."""
    store = read_store(path)
    status = store.status()
    frames, missing = [], []
    for t in store.trials:
        f = path.at(t.path).child(RECORDS_FILE)
        trial = path.at(t.path).name
        if not f.is_file():
            missing.append(trial)
            continue
        frames.append(
            f.read_table().assign(trial_id=t.trial_id, trial=trial, status=status.get(t.trial_id))
        )
    if missing:
        print(
            f"[memtune] {len(missing)} trial(s) have no {RECORDS_FILE} (never evaluated): "
            + ", ".join(missing),
            file=sys.stderr,
        )
    if not frames:
        raise UsageError(
            f"experiment {path} has no {RECORDS_FILE} in any trial; is it a zipf experiment?"
        )
    return pd.concat(frames, ignore_index=True)


def check_records(df: pd.DataFrame) -> pd.DataFrame:
    """Records with the needed columns and values, or UsageError naming the problem."""
    require_columns(df, REQUIRED, "zipf analysis")
    df = df.copy()
    for c in REQUIRED[1:]:
        df[c] = pd.to_numeric(df[c], errors="coerce")
        if df[c].isna().any():
            raise UsageError(f"zipf analysis: column {c} has missing or non-numeric values")
    if (df["presentations"] < 0).any() or (df["rank"] < 1).any():
        raise UsageError("zipf analysis: presentations must be >= 0 and rank >= 1 in every row")
    if not df["accuracy"].between(0, 1).all():
        raise UsageError("zipf analysis: accuracy must be in [0, 1] in every row")
    df["experiment"] = df["experiment"].astype(str)
    return df


def processed_records(
    path: str | Path, cache_dir: Path, force: bool = False
) -> tuple[pd.DataFrame, Path, bool]:
    """The records of every trial, from the cache when its key matches the inputs.

    Returns:
        (records, cache file, True when read from the cache).
    """
    p = Store.open(path)
    if p.suffix not in TABLE_SUFFIXES:
        if not p.exists():
            raise UsageError(f"path {p} does not exist; give an experiment directory or a table")
    elif not p.is_file():
        raise UsageError(f"records table {p} does not exist")
    cache = cache_dir / f"zipf_processed_{cache_key(p, input_files(p))}.parquet"
    if cache.is_file() and not force:
        return pd.read_parquet(cache), cache, True
    df = load_table(p.uri) if p.suffix in TABLE_SUFFIXES else load_experiment_records(p)
    df = check_records(df)
    cache_dir.mkdir(parents=True, exist_ok=True)
    for old in cache_dir.glob("zipf_processed_*.parquet"):  # one cache per folder: the current
        old.unlink()
    tmp = cache.with_suffix(".tmp")
    df.to_parquet(tmp, index=False)
    os.replace(tmp, cache)
    return df, cache, False


def select_experiments(df: pd.DataFrame, which: str) -> pd.DataFrame:
    """Rows of the experiments named in ``which`` (comma-separated), or every one for 'all'."""
    present = sorted(df["experiment"].unique())
    if which == "all":
        return df
    wanted = [w.strip() for w in which.split(",") if w.strip()]
    unknown = [w for w in wanted if w not in present]
    if unknown or not wanted:
        raise UsageError(
            f"--experiment {which!r} is not in these results; allowed: all, {', '.join(present)}"
        )
    return df[df["experiment"].isin(wanted)]


def experiment_order(df: pd.DataFrame) -> list[str]:
    """The seed's experiments first, in its order, then the others alphabetically."""
    present = set(df["experiment"])
    return [e for e in SEED_EXPERIMENTS if e in present] + sorted(present - set(SEED_EXPERIMENTS))


# ------------------------------------------------------------------------------------- the laws


def loss_logistic(n: np.ndarray, L0: float, n_half: float, k: float) -> np.ndarray:
    """loss = L0 / (1 + (n / n_half)^k): a logistic in log n falling from L0 to 0.

    L0 is the loss before the sequence is learned (about 1 bit/token for random bits), n_half
    the presentations at which it is halved, k the steepness in log n (the slope of the fall,
    d log loss / d log n, tends to -k once n >> n_half: a power law with exponent k there).
    """
    n = np.asarray(n, dtype=float)
    return L0 / (1.0 + np.power(np.maximum(n, 0.0) / n_half, k))


def fit_power_law(
    n: np.ndarray, loss: np.ndarray, sequences: np.ndarray | None = None
) -> FitResult:
    """log loss = log a - b log n by least squares over n >= 1; params (slope = -b, intercept =
    log a). The evaluations of one sequence are one learning curve, not independent points:
    with ``sequences`` (a label per row) the interval is cluster-robust by sequence."""
    n, loss = np.asarray(n, dtype=float), np.asarray(loss, dtype=float)
    keep = (n >= 1) & (loss > 0)
    groups = None if sequences is None else np.asarray(sequences)[keep]
    return fit_linear(np.log(n[keep]), np.log(loss[keep]), groups, "sequence")


def sequence_ids(d: pd.DataFrame) -> np.ndarray:
    """Each row's sequence: its trial (or seed, in a plain table) and its rank."""
    trial = d["trial_id"] if "trial_id" in d else d["seed"]
    return (trial.astype(str) + "/" + d["rank"].astype(str)).to_numpy()


@dataclass(frozen=True)
class LogisticFit:
    L0: float
    n_half: float
    k: float
    stderr: tuple[float, float, float]
    r2: float
    n_points: int


def fit_loss_logistic(n: np.ndarray, loss: np.ndarray) -> LogisticFit | None:
    """Least squares of ``loss_logistic``, in log n_half for stability; None if it fails."""
    from scipy.optimize import curve_fit

    n, loss = np.asarray(n, dtype=float), np.asarray(loss, dtype=float)
    keep = n >= 1
    n, loss = n[keep], loss[keep]
    if len(n) < 4 or np.ptp(np.log(n)) == 0:
        return None

    def f(x: np.ndarray, L0: float, log_n_half: float, k: float) -> np.ndarray:
        return loss_logistic(x, L0, np.exp(log_n_half), k)

    p0 = (float(np.quantile(loss, 0.95)), float(np.median(np.log(n))), 1.0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            params, cov = curve_fit(f, n, loss, p0=p0, bounds=([0, -5, 0.01], [10, 30, 20]))
    except (RuntimeError, ValueError):
        return None
    err = np.sqrt(np.clip(np.diag(cov), 0, None)) if np.all(np.isfinite(cov)) else [np.nan] * 3
    resid = loss - f(n, *params)
    tss = float(((loss - loss.mean()) ** 2).sum())
    r2 = 1 - float(resid @ resid) / tss if tss > 0 else float("nan")
    n_half = float(np.exp(params[1]))
    return LogisticFit(
        float(params[0]),
        n_half,
        float(params[2]),
        (float(err[0]), n_half * float(err[1]), float(err[2])),
        r2,
        len(n),
    )


def first_perfect(df: pd.DataFrame) -> pd.DataFrame:
    """Per (trial, sequence): presentations at its first evaluation with 100% accuracy.

    Sequences that never reach it have NaN; ``perfect_at_end`` says whether the last
    evaluation is at 100% (a sequence can reach it and lose it again).
    """
    keys = ["seed", "trial_id", "rank"] if "trial_id" in df else ["seed", "rank"]
    d = df.sort_values("step")
    perfect = d[d["accuracy"] >= 1.0]
    first = perfect.groupby(keys)["presentations"].first().rename("n_first_perfect")
    last = d.groupby(keys).last()
    out = last[["presentations"]].rename(columns={"presentations": "n_final"}).join(first)
    out["perfect_at_end"] = last["accuracy"] >= 1.0
    if "bayes_accuracy" in d:
        # as accurate as the Bayes-optimal predictor of the mixture: the best any model can be
        best = d[d["accuracy"] >= d["bayes_accuracy"] - 1e-9]
        out["n_first_bayes"] = best.groupby(keys)["presentations"].first()
        out["bayes_at_end"] = last["accuracy"] >= last["bayes_accuracy"] - 1e-9
        out["bayes_perfect"] = last["bayes_accuracy"] >= 1.0
    return out.reset_index()


def fit_experiment(d: pd.DataFrame) -> dict[str, Any]:
    """The fits and accuracy numbers of one experiment's records (every seed pooled)."""
    row: dict[str, Any] = {"experiment": d["experiment"].iloc[0], "n_points": len(d)}
    for c in ["kind", "n_layer", "n_head", "d_model", "pos_emb", "lr", "n_params"]:
        if c in d:
            row[c] = d[c].iloc[0]
    row["seeds"] = int(d["seed"].nunique())
    pl = fit_power_law(d["presentations"], d["loss_bits"], sequence_ids(d))
    ols = fit_power_law(d["presentations"], d["loss_bits"])
    row.update(
        power_b=-float(pl.params[0]),
        power_b_ci95=[-float(pl.ci95[0, 1]), -float(pl.ci95[0, 0])],
        power_b_ci95_ols=[-float(ols.ci95[0, 1]), -float(ols.ci95[0, 0])],
        power_interval=pl.interval,
        power_a=float(np.exp(pl.params[1])),
        power_r2=pl.r2,
    )
    end = d[d["step"] == d["step"].max()]
    if end["presentations"].nunique() >= 3:  # the cross-section: each sequence once, at the end
        plf = fit_power_law(end["presentations"], end["loss_bits"])
        row.update(power_b_final=-float(plf.params[0]), power_r2_final=plf.r2)
    lg = fit_loss_logistic(d["presentations"], d["loss_bits"])
    if lg is not None:
        row.update(
            logistic_L0=lg.L0,
            logistic_n_half=lg.n_half,
            logistic_k=lg.k,
            logistic_n_half_stderr=lg.stderr[1],
            logistic_k_stderr=lg.stderr[2],
            logistic_r2=lg.r2,
        )
    fp = first_perfect(d)
    reached = fp["n_first_perfect"].dropna()
    row.update(
        final_step=int(d["step"].max()),
        final_loss_bits=float(end["loss_bits"].mean()),
        final_accuracy=float(end["accuracy"].mean()),
        frac_perfect_at_end=float(fp["perfect_at_end"].mean()),
        n_perfect_at_end=int(fp["perfect_at_end"].sum()),
        n_sequences=len(fp),
        n_first_perfect_median=float(reached.median()) if len(reached) else float("nan"),
        n_first_perfect_min=float(reached.min()) if len(reached) else float("nan"),
        max_rank_perfect_at_end=int(fp.loc[fp["perfect_at_end"], "rank"].max())
        if fp["perfect_at_end"].any()
        else 0,
    )
    if "bayes_perfect" in fp:
        at_bayes = fp["n_first_bayes"].dropna()
        row.update(
            frac_bayes_perfect=float(fp["bayes_perfect"].mean()),
            n_bayes_at_end=int(fp["bayes_at_end"].sum()),
            n_first_bayes_median=float(at_bayes.median()) if len(at_bayes) else float("nan"),
        )
    return row


def binned_curves(df: pd.DataFrame, n_bins: int) -> pd.DataFrame:
    """Mean loss and accuracy per experiment in log-spaced presentation bins (n >= 1)."""
    d = df[df["presentations"] >= 1]
    edges = np.geomspace(d["presentations"].min(), d["presentations"].max() * 1.0001, n_bins + 1)
    d = d.assign(
        bin=np.clip(np.searchsorted(edges, d["presentations"], side="right") - 1, 0, n_bins - 1)
    )
    g = d.groupby(["experiment", "bin"])
    out = g.agg(
        loss_bits=("loss_bits", "mean"),
        accuracy=("accuracy", "mean"),
        n_points=("loss_bits", "size"),
    ).reset_index()
    out["presentations"] = np.sqrt(edges[out["bin"]] * edges[out["bin"] + 1])
    return out


def comparison_groups(df: pd.DataFrame, factor: str) -> list[list[str]]:
    """Groups of >= 2 experiments that differ in ``factor`` and in nothing else."""
    cols = [c for c in ARCH_FACTORS if c in df]
    if factor not in cols:
        return []
    arch = df.groupby("experiment")[cols].first().reset_index()
    arch = arch[arch["kind"] == "gpt"] if "kind" in arch else arch
    others = [c for c in cols if c != factor]
    groups = []
    for _, g in arch.groupby(others, dropna=False):
        if g[factor].nunique() >= 2:
            groups.append(list(g.sort_values(factor)["experiment"]))
    return groups


# ------------------------------------------------------------------------------------ reporting


def format_table(fits: list[dict[str, Any]]) -> str:
    head = (
        f"  {'experiment':<14}{'params':>8}{'b (power)':>11}{'95% CI':>16}{'R2':>6}{'b end':>7}"
        f"{'n_half':>9}{'k':>6}{'R2':>6}{'loss end':>10}{'acc end':>9}{'100%':>9}"
        f"{'n 1st 100%':>11}{'at Bayes':>10}{'n 1st Bayes':>12}"
    )
    lines = [head]
    for r in fits:
        lo, hi = r["power_b_ci95"]
        nh = r.get("logistic_n_half", float("nan"))
        lines.append(
            f"  {r['experiment']:<14}{int(r.get('n_params', 0)):>8,}{r['power_b']:>11.3f}"
            f"{f'[{lo:.3f}, {hi:.3f}]':>16}{r['power_r2']:>6.2f}"
            f"{r.get('power_b_final', float('nan')):>7.3f}{nh:>9.0f}"
            f"{r.get('logistic_k', float('nan')):>6.2f}{r.get('logistic_r2', float('nan')):>6.2f}"
            f"{r['final_loss_bits']:>10.3f}{r['final_accuracy']:>9.3f}"
            f"{r['n_perfect_at_end']:>5}/{r['n_sequences']:<3}{r['n_first_perfect_median']:>11.0f}"
            f"{r.get('n_bayes_at_end', -1):>10}{r.get('n_first_bayes_median', float('nan')):>12.0f}"
        )
    return "\n".join(lines)


def format_report(summary: dict[str, Any]) -> str:
    lines = [
        "zipf memorization: loss (bits/token) vs presentations n, per experiment, all "
        f"(sequence, evaluation) points pooled over seeds ({summary['n_trials']} trials)",
        "  power law loss = a n^-b (least squares, log-log; 95% CI cluster-robust by sequence, "
        "OLS CI in fits.csv; b end: the last evaluation only);",
        "  logistic loss = L0 / (1 + (n/n_half)^k);",
        "  100% = sequences at 100% token accuracy at the end (all seeds); n 1st 100% = median "
        "presentations when a sequence first reached it;",
        "  at Bayes = sequences as accurate as the Bayes-optimal predictor of the mixture at the "
        "end (its accuracy is < 1 for rare sequences), n 1st Bayes = median presentations then",
        format_table(summary["fits"]),
    ]
    if summary.get("unfinished_trials"):
        lines.append(
            "  warning: "
            + incomplete_note(summary["unfinished_trials"], summary["n_trials_in_records"])
        )
    for name, groups in summary.get("comparisons", {}).items():
        if not groups:
            lines.append(
                f"  comparison {name}: no two experiments differ only in "
                f"{COMPARISONS[name]}; skipped"
            )
        for g in groups:
            lines.append(f"  comparison {name}: {' vs '.join(g)}")
    return "\n".join(lines)


def analyze(
    df: pd.DataFrame,
    out: Path,
    rank_selection: str = DEFAULT_RANK_SELECTION,
    comparative: bool = False,
    save_plots: bool = True,
) -> tuple[dict[str, Any], list[Any]]:
    """Fit every experiment, write fits.csv and summary.json (and the figures), return both."""
    from analysis.zipf.config import PLOT
    from analysis.zipf.plots import (
        plot_accuracy_lines,
        plot_comparison,
        plot_loss_lines,
        plot_loss_scatter,
    )

    n_trials = int(df["trial_id"].nunique()) if "trial_id" in df else None
    df, unfinished = finished_trials(df)  # the shared rule: only trials that ended normally
    if df.empty:
        raise UsageError(with_incomplete("zipf analysis: no finished trial", unfinished, 0))
    # one experiment name, one architecture: only the seed (and so the draw) may differ
    check_one_experiment(df, list(TRIAL_COLUMNS), ["experiment"], ["seed"], "zipf analysis")
    order = experiment_order(df)
    fits = [fit_experiment(df[df["experiment"] == e]) for e in order]
    summary: dict[str, Any] = {
        "n_trials": int(df["trial_id"].nunique()) if "trial_id" in df else None,
        "n_trials_in_records": n_trials,
        **completeness(df, unfinished),
        "experiments": order,
        "rank_selection": rank_selection,
        "fits": fits,
    }
    by_exp = {f["experiment"]: f for f in fits}
    figures = {
        f"zipf_loss_lines_{rank_selection}.png": plot_loss_lines(df, order, rank_selection, by_exp),
        "zipf_loss_scatter.png": plot_loss_scatter(df, order, by_exp),
        f"zipf_accuracy_{rank_selection}.png": plot_accuracy_lines(df, order, rank_selection),
    }
    if comparative:
        binned = binned_curves(df, PLOT.n_bins)
        figures["zipf_compare_models.png"] = plot_comparison(binned, order, "every experiment")
        summary["comparisons"] = {}
        for name, factor in COMPARISONS.items():
            groups = comparison_groups(df, factor)
            summary["comparisons"][name] = groups
            for i, g in enumerate(groups):
                suffix = f"_{i + 1}" if len(groups) > 1 else ""
                figures[f"zipf_compare_{name}{suffix}.png"] = plot_comparison(
                    binned, g, f"{factor} only differs"
                )
    out.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(fits).to_csv(out / "fits.csv", index=False)
    write_json(out / "summary.json", summary)
    outputs = [str(out / "fits.csv"), str(out / "summary.json")]
    if save_plots:
        for fname, fig in figures.items():
            fig.savefig(out / fname, dpi=PLOT.dpi)
            outputs.append(str(out / fname))
    summary["outputs"] = outputs
    return summary, list(figures.values())


def has_display() -> bool:
    """Whether plt.show() can open a window (never in CI or under pytest on a server)."""
    return sys.platform in ("darwin", "win32") or bool(
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    )


def analyze_experiment(
    path: str,
    out: str | None = None,
    experiment: str = DEFAULT_EXPERIMENT,
    rank_selection: str = DEFAULT_RANK_SELECTION,
    force_reprocess: bool = False,
    show_plots: bool = False,
    save_plots: bool = True,
    comparative: bool = True,
    cache_dir: str | None = None,
) -> int:
    """Load (or read the cache), analyse and print; the sweep calls this when it finishes."""
    import matplotlib

    show = show_plots and has_display()
    if not show:
        matplotlib.use("Agg")  # never block: no window without a display or when not asked
    out_dir = output_dir(path, out)
    cdir = Path(cache_dir) if cache_dir else out_dir / CACHE_SUBDIR
    df, cache, hit = processed_records(path, cdir, force_reprocess)
    what = "read cache" if hit else "processed the records and wrote cache"
    print(f"[memtune] zipf analysis: {what} {cache}", flush=True)
    df = select_experiments(df, experiment)
    summary, figures = analyze(df, out_dir, rank_selection, comparative, save_plots)
    print_report(format_report(summary), summary["outputs"])
    import matplotlib.pyplot as plt

    if show:
        plt.show()
    for fig in figures:  # saved (or shown): free them, a caller may analyse many experiments
        plt.close(fig)
    if show_plots and not show:
        print("[memtune] no display: figures not shown (see the files, or pass --no-show-plots)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = analysis_parser("zipf", __doc__)
    parser.add_argument(
        "--experiment",
        default=DEFAULT_EXPERIMENT,
        help=f"experiment(s) to analyse, comma-separated, or all (the seed's: "
        f"{', '.join(SEED_EXPERIMENTS)}; also pheno and the contrast arms of the store)",
    )
    parser.add_argument(
        "--rank-selection",
        default=DEFAULT_RANK_SELECTION,
        choices=list(RANK_SELECTIONS),
        help="ranks the line figures draw",
    )
    parser.add_argument("--force-reprocess", action="store_true", help="rebuild the cache")
    parser.add_argument("--no-show-plots", action="store_true", help="do not open windows")
    parser.add_argument("--no-save-plots", action="store_true", help="do not write PNGs")
    parser.add_argument(
        "--comparative",
        action="store_true",
        help="model, heads, layers, position-embedding and lr comparisons",
    )
    parser.add_argument(
        "--cache-dir", default=None, help="processed-data cache (default: OUT/cache)"
    )
    args = parser.parse_args(argv)
    return analyze_experiment(
        args.path,
        args.out,
        args.experiment,
        args.rank_selection,
        args.force_reprocess,
        not args.no_show_plots,
        not args.no_save_plots,
        args.comparative,
        args.cache_dir,
    )
