"""Where 3.6 comes from: capacity across vocabularies, tying and precision (docs/capacity.md).

A capacity trial's group is its model plus what the vocab and precision presets vary: the
vocabulary V (``data.vocab_size``), tying (``model.tie_embeddings``) and ``optim.dtype``. The
rest of the capacity analysis takes a group for a model (``with_group_labels`` names it
"cpu-xxs V=16 tied bf16", and plain "cpu-xxs" at V=2 untied fp32, so old stores and the ground
truth keep their names); this module adds, when the groups differ in one of those:

- a table per group: capacity, bits per parameter and per non-embedding parameter (body and
  positions) over its converged seeds, with intervals;
- one fit across groups, capacity = a x non-embedding params + b x embedding params, with
  intervals clustered by group: how many bits a body parameter and an embedding parameter hold.
  Positions are not a third term: with one body their count is the same in every group, so
  they cannot be told from the body's;
- each V's own b given the fit's a, and from the fit a prediction of Morris et al.'s Table 1
  models (d_model 32, V = 2048, tied), printed beside their figures.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from analysis.capacity.bodies import bodies_summary, format_bodies
from analysis.capacity.morris import (
    MORRIS_1X32_FP32,
    MORRIS_FP32_RANGE,
    MORRIS_V,
    d32_models,
)
from analysis.common.compare import compare
from analysis.common.fit import FitResult, ci_text, fit_ols, mean_ci95, t975

# (column, default): a group's label names every axis that is not at its default
AXES = (("data.vocab_size", 2), ("model.tie_embeddings", False), ("optim.dtype", "fp32"))
SPLIT = ("n_params_embedding", "n_params_position", "n_params_body")


def _axis_value(df: pd.DataFrame, col: str, default: Any) -> pd.Series:
    return df[col].fillna(default) if col in df else pd.Series(default, index=df.index)


def with_group_labels(df: pd.DataFrame) -> pd.DataFrame:
    """The table with ``model.base`` (the model preset) and ``model.name`` relabelled by group,
    and the axis columns filled with their defaults where a store predates them."""
    df = df.copy()
    # a table this analysis wrote (table.csv) holds the preset in model.base already, and its
    # label in model.name: label from the preset, or a re-read labels twice
    base = df["model.base"].fillna(df["model.name"]) if "model.base" in df else df["model.name"]
    df["model.base"] = base
    label = base.astype(str)
    for col, default in AXES:
        df[col] = _axis_value(df, col, default)
    # astype(str): on an empty table map() gives int64, which str + cannot take (pandas 3)
    vocab = df["data.vocab_size"].map(lambda v: "" if int(v) == 2 else f" V={int(v)}")
    tied = df["model.tie_embeddings"].map(lambda t: " tied" if _true(t) else "")
    dtype = df["optim.dtype"].map(lambda d: "" if d == "fp32" else f" {d}")
    df["model.name"] = label + vocab.astype(str) + tied.astype(str) + dtype.astype(str)
    return df


def _nan(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _true(value: Any) -> bool:
    """A bool as stored: True, or "True"/"true" as a CSV gives it back."""
    return str(value).strip().lower() in ("true", "1", "1.0")


def varies(df: pd.DataFrame) -> bool:
    """Whether the trials differ in V, tying or precision (then one slope is not the answer)."""
    return any(df[col].astype(str).nunique() > 1 for col, _ in AXES if col in df)


def non_embedding(cap: pd.DataFrame) -> pd.Series:
    return cap["n_params_body"] + cap["n_params_position"]


def _mean_ci(values: pd.Series, converged: bool) -> tuple[float, float, float]:
    """Mean and 95% interval over converged seeds; over lower bounds, the mean and no interval."""
    if converged:
        return mean_ci95(values.to_numpy())
    return float(values.mean()), math.nan, math.nan


def group_table(cap: pd.DataFrame) -> pd.DataFrame:
    """One row per group: its axes, parameter split, and capacity and bits per (non-embedding)
    parameter over its seeds with 95% intervals when every seed converged; when any seed is a
    lower bound, the mean over all seeds with the bounds at their bound, itself a bound
    (``bound`` ">=", no interval): never a mean of the converged seeds alone, which can fall
    below what the data bound."""
    rows = []
    for name, d in cap.groupby("model.name", sort=False):
        conv = d[d["plateau_reached"]]
        used = d
        c, b, bn = (
            _mean_ci(values, len(conv) == len(d))
            for values in (
                used["capacity_bits"],
                used["capacity_bits"] / used["n_params"],
                used["capacity_bits"] / non_embedding(used),
            )
        )
        first = d.iloc[0]
        rows.append({
            "group": name, "model.base": first["model.base"],
            "vocab_size": int(first["data.vocab_size"]),
            "tied": bool(first["model.tie_embeddings"]), "dtype": first["optim.dtype"],
            "n_params": int(first["n_params"]),
            **{k: int(first[k]) for k in SPLIT},
            "n_seeds": len(d), "n_converged": len(conv),
            "bound": "" if len(conv) == len(d) else ">=",
            "capacity_bits": c[0], "capacity_ci95": [c[1], c[2]],
            "bpp": b[0], "bpp_ci95": [b[1], b[2]],
            "bpp_non_embedding": bn[0], "bpp_non_embedding_ci95": [bn[1], bn[2]],
            "frac_unchanged": float(d["frac_unchanged"].mean()) if "frac_unchanged" in d
            else math.nan,
            "statuses": "; ".join(f"seed {int(r['seed'])}: {r['status']}" for _, r in d.iterrows()),
            # each seed's best trial's verdict, in seed order: every point's verdict at a glance
            "verdicts": ",".join(
                str(r.get("verdict_at_capacity", "")) for _, r in d.sort_values("seed").iterrows()
            ),
        })  # fmt: skip
    return pd.DataFrame(rows).sort_values(["dtype", "tied", "vocab_size"]).reset_index(drop=True)


def axis_comparisons(cap: pd.DataFrame) -> list[dict[str, Any]]:
    """Tied against untied, and each dtype against fp32, at the same model and V: bits/param by
    the comparison rule (``analysis.common.compare``), a budget seed counted at its bound.

    Seeds pair only when the two groups share their data draw and init: the same seed, N and
    parameter count (fp32 against bf16: the bf16 model is the fp32 init rounded). Tied and
    untied models differ in shape, so their inits differ and their seeds are unpaired."""
    out = []
    keys = ["model.base", "data.vocab_size", "model.tie_embeddings", "optim.dtype"]
    # each dtype against fp32, and pure bf16 against mixed: the same bf16 compute, 16-bit
    # against 32-bit parameters, so that difference is storage (or updates that round away)
    for axis, ref in (("model.tie_embeddings", False), ("optim.dtype", "fp32"),
                      ("optim.dtype", "mixed")):  # fmt: skip
        rest = [k for k in keys if k != axis]
        for _, d in cap.groupby(rest, sort=False):
            base = d[d[axis] == ref]
            others = [v for v in d[axis].unique() if v != ref]
            if ref == "mixed":
                others = [v for v in others if v == "bf16"]
            for value in others:
                other = d[d[axis] == value]
                if base.empty or other.empty:
                    continue
                a, b = other.set_index("seed"), base.set_index("seed")
                seeds = sorted(set(a.index) & set(b.index))
                same = bool(seeds) and all(
                    a.loc[s, "n_params"] == b.loc[s, "n_params"]
                    and a.loc[s, "n_seqs_at_capacity"] == b.loc[s, "n_seqs_at_capacity"]
                    for s in seeds
                )  # fmt: skip
                if same and len(seeds) == len(a) == len(b):
                    a, b = a.loc[seeds], b.loc[seeds]
                c = compare(
                    a["bpp"], b["bpp"], paired=same and len(a) == len(b),
                    a_bounds=~a["plateau_reached"].astype(bool),
                    b_bounds=~b["plateau_reached"].astype(bool),
                )  # fmt: skip
                what = "tied - untied" if axis == "model.tie_embeddings" else f"{value} - {ref}"
                out.append({
                    "what": what, "model.base": d["model.base"].iloc[0],
                    "vocab_size": int(d["data.vocab_size"].iloc[0]),
                    "group": str(other["model.name"].iloc[0]),
                    "reference": str(base["model.name"].iloc[0]), **c.as_dict(), "text": c.text(),
                })  # fmt: skip
    return out


def fit_body_embedding(cap: pd.DataFrame) -> tuple[FitResult | None, str]:
    """capacity = a x non-embedding params + b x embedding params over the converged
    (group, seed) points of fp32 groups, clustered by group; (None, why) with fewer than 3
    such groups (two would fix a and b exactly, with no interval).

    No intercept: a model with no parameters stores nothing. Lower bounds are left out (a fit
    through them bounds nothing), and bf16 groups too: precision is compared, not pooled.
    """
    conv = cap[cap["plateau_reached"] & (cap["optim.dtype"] == "fp32")]
    groups = conv["model.name"].nunique()
    X = np.column_stack([non_embedding(conv), conv["n_params_embedding"]]) if len(conv) else None
    if groups < 3 or X is None or np.linalg.matrix_rank(X) < 2:
        return None, (
            f"no body-vs-embedding fit: {groups} fp32 group(s) have a converged capacity; it "
            "needs 3 with different parameter mixes (2 terms, and intervals clustered by group "
            "need more groups than terms)"
        )
    fit = fit_ols(
        X, conv["capacity_bits"].to_numpy(), ("bits_per_body_param", "bits_per_embedding_param"),
        clusters=conv["model.name"].to_numpy(), cluster_name="group",
    )  # fmt: skip
    return fit, ""


def fit_per_vocab(cap: pd.DataFrame) -> pd.DataFrame:
    """Each V's own two terms, from its tied and untied twins: they share the body and differ
    only in embedding parameters, so a V whose tied and untied groups both converged fixes its
    a_V (bits per non-embedding parameter) and b_V (per embedding parameter) without assuming
    either is the same at another V. OLS over its converged fp32 (group, seed) points, seeds as
    independent runs (n - 2 degrees of freedom: 2 seeds x 2 groups gives 2)."""
    conv = cap[cap["plateau_reached"] & (cap["optim.dtype"] == "fp32")]
    rows = []
    for v, d in conv.groupby("data.vocab_size"):
        if d["model.tie_embeddings"].nunique() < 2 or len(d) < 3:
            continue
        X = np.column_stack([non_embedding(d), d["n_params_embedding"]])
        f = fit_ols(X, d["capacity_bits"].to_numpy(), ("a", "b"))
        rows.append({
            "vocab_size": int(v), "n_points": len(d), "df": len(d) - 2,
            "bits_per_body_param": float(f.params[0]), "body_ci95": list(map(float, f.ci95[0])),
            "body_se": float(f.stderr[0]),
            "bits_per_embedding_param": float(f.params[1]),
            "embedding_ci95": list(map(float, f.ci95[1])), "embedding_se": float(f.stderr[1]),
        })  # fmt: skip
    return pd.DataFrame(rows)


def morris_prediction(fit: FitResult) -> list[dict[str, Any]]:
    """Predicted bits/param of Morris et al.'s d_model 32 models (1, 2, 4, 8 layers, V = 2048,
    T = 64, tied) from the fit, with 95% intervals from the fit's covariance (t with the fit's
    degrees of freedom). An extrapolation: from bodies of ~1.4K parameters and V <= 256 to
    80K-170K parameters at V = 2048, so it says whether the two terms carry over, not more."""
    a, b = (float(p) for p in fit.params)
    cov = fit.cov
    dof = (fit.n_clusters - 1) if fit.n_clusters else fit.n_points - 2
    t = t975(dof)
    out = []
    for m in d32_models():
        total = m.n_params
        x = np.array([m.non_embedding, m.embedding], dtype=float)
        cap = float(x @ [a, b])
        half = t * math.sqrt(float(x @ cov @ x)) if cov is not None else math.nan
        out.append({
            "model": m.name, "n_params": total,
            "embedding_share": m.embedding / total,
            "bpp_predicted": cap / total,
            "ci95": [(cap - half) / total, (cap + half) / total],
            "morris_fp32": MORRIS_1X32_FP32 if m.n_layer == 1 else None,
        })  # fmt: skip
    return out


def morris_prediction_by_trend(per_v: pd.DataFrame) -> list[dict[str, Any]]:
    """The same prediction with each term's trend in V: a_V and b_V (``fit_per_vocab``) each
    fitted linear in log2 V and read at V = 2048 (log2 V = 11), with 95% intervals from those
    two fits combined as independent. Weighted by 1 / stderr^2 of each V's estimate: at small V
    the twins differ by a few dozen embedding parameters, so b_V there is noise (intervals of
    +-10 to +-100 bits) and must not pull the trend. An extrapolation well past the last
    measured V (256); [] with fewer than 3 V's with finite errors."""
    per_v = (
        per_v[np.isfinite(per_v.get("body_se", pd.Series(dtype=float)))] if len(per_v) else per_v
    )
    if len(per_v) < 3:
        return []
    x = np.log2(per_v["vocab_size"].to_numpy(dtype=float))
    X = np.column_stack([x, np.ones_like(x)])
    at = np.array([math.log2(MORRIS_V), 1.0])
    terms = []
    for col, se in (
        ("bits_per_body_param", "body_se"),
        ("bits_per_embedding_param", "embedding_se"),
    ):
        w = 1.0 / per_v[se].to_numpy() ** 2
        root = np.sqrt(w / w.sum())
        f = fit_ols(X * root[:, None], per_v[col].to_numpy() * root, ("per_log2_v", "at_v_1"))
        t = t975(f.n_points - 2)
        var = float(at @ f.cov @ at) if f.cov is not None else math.nan
        terms.append((float(at @ f.params), var, t))
    out = []
    for m in d32_models():
        total, nonemb, emb = m.n_params, m.non_embedding, m.embedding
        (a, var_a, t_a), (b, var_b, t_b) = terms
        cap = a * nonemb + b * emb
        half = math.sqrt((t_a * nonemb) ** 2 * var_a + (t_b * emb) ** 2 * var_b)
        out.append({
            "model": m.name, "n_params": total, "bits_per_body_param": a,
            "bits_per_embedding_param": b, "bpp_predicted": cap / total,
            "ci95": [(cap - half) / total, (cap + half) / total],
            "morris_fp32": MORRIS_1X32_FP32 if m.n_layer == 1 else None,
        })  # fmt: skip
    return out


def vocab_summary(cap: pd.DataFrame) -> dict[str, Any]:
    """The vocabulary section of the capacity summary (strict-JSON-ready)."""
    table = group_table(cap)
    fit, why = fit_body_embedding(cap)
    out: dict[str, Any] = {"groups": table.to_dict(orient="records"), "fit": None,
                           "no_fit_reason": why or None}  # fmt: skip
    if fit is not None:
        f = fit.as_dict()
        out["fit"] = {
            "bits_per_body_param": f["bits_per_body_param"],
            "bits_per_body_param_ci95": [f["bits_per_body_param_ci95_low"],
                                         f["bits_per_body_param_ci95_high"]],
            "bits_per_embedding_param": f["bits_per_embedding_param"],
            "bits_per_embedding_param_ci95": [f["bits_per_embedding_param_ci95_low"],
                                              f["bits_per_embedding_param_ci95_high"]],
            "interval": fit.interval, "n_points": fit.n_points, "r2": fit.r2,
        }  # fmt: skip
        out["morris_prediction"] = morris_prediction(fit)
    per_v = fit_per_vocab(cap)
    out["per_vocab"] = per_v.to_dict(orient="records")
    out["morris_prediction_by_trend"] = morris_prediction_by_trend(per_v)
    out["comparisons"] = axis_comparisons(cap)
    bodies = bodies_summary(cap)
    if bodies is not None:
        out["bodies"] = bodies
    return out


def format_vocab(v: dict[str, Any]) -> str:
    lines = [
        "vocabulary, tying and precision (mean over seeds, 95% CI; '>=' = a seed is a lower "
        "bound, counted at its bound):",
        f"  {'group':<24}{'V':>5}{'tied':>6}{'dtype':>6}{'params':>8}{'emb':>7}{'conv':>6}"
        f"{'bits/param':>12}{'95% CI':>17}{'bits/non-emb':>14}{'95% CI':>17}  verdicts",
    ]
    for g in v["groups"]:
        bound = g["bound"]
        lines.append(
            f"  {g['group']:<24}{g['vocab_size']:>5}{'yes' if g['tied'] else 'no':>6}"
            f"{g['dtype']:>6}{g['n_params']:>8,}{g['n_params_embedding']:>7,}"
            f"{str(g['n_converged']) + '/' + str(g['n_seeds']):>6}"
            f"{bound + format(g['bpp'], '.3f'):>12}{ci_text(*g['bpp_ci95']):>17}"
            f"{bound + format(g['bpp_non_embedding'], '.3f'):>14}"
            f"{ci_text(*g['bpp_non_embedding_ci95']):>17}  {g['verdicts']}"
        )
    for g in v["groups"]:
        if g["bound"] or g["n_converged"] < g["n_seeds"]:
            lines.append(f"  {g['group']}: {g['statuses']}")
    if any(g["dtype"] != "fp32" for g in v["groups"]):
        lines.append(
            "  entries the last step (at the floor lr) left unchanged, mean over seeds: "
            + ", ".join(
                f"{g['group']} {g['frac_unchanged']:.1%}"
                for g in v["groups"]
                if not _nan(g.get("frac_unchanged"))
            )  # fmt: skip
        )
    if v.get("comparisons"):
        lines.append("  comparisons, bits/param (held / did not hold / not decided by the seeds):")
        lines += [f"    {c['group']} - {c['reference']}: {c['text']}" for c in v["comparisons"]]
    if v.get("per_vocab"):
        lines.append(
            "  each V from its tied and untied twins (same body; OLS over its converged runs), "
            "ASSUMING a tied and an untied embedding parameter store the same (one of a family "
            "of solutions; the bodies preset measures a without it):"
        )
        for r in v["per_vocab"]:
            lines.append(
                f"    V={r['vocab_size']:<5}{r['bits_per_body_param']:>7.3f} "
                f"{ci_text(*r['body_ci95']):>17} bits/body param  "
                f"{r['bits_per_embedding_param']:>7.3f} {ci_text(*r['embedding_ci95']):>17} "
                f"bits/embedding param  ({r['n_points']} runs)"
            )
    if v.get("bodies"):
        lines += ["", format_bodies(v["bodies"])]
    f = v["fit"]
    if f is None:
        lines.append(f"  {v['no_fit_reason']}")
        return "\n".join(lines)
    lines += [
        f"  one fit across groups (each term the same at every V) over {f['n_points']} converged "
        "fp32 (group, seed) points, no intercept "
        f"(R2 {f['r2']:.3f}; {f['interval']}):",
        f"    capacity = {f['bits_per_body_param']:.3f} {ci_text(*f['bits_per_body_param_ci95'])} "
        f"x non-embedding params + {f['bits_per_embedding_param']:.3f} "
        f"{ci_text(*f['bits_per_embedding_param_ci95'])} x embedding params",
    ]
    lines.append(
        "  prediction of Morris et al.'s d_model 32 models (V=2048, tied) from that fit "
        "(extrapolated from bodies of ~1.4K parameters and V <= 256):"
    )
    for p in v["morris_prediction"]:
        theirs = f"Morris fp32 {p['morris_fp32']:.2f}" if p["morris_fp32"] else (
            f"Morris fp32 range {MORRIS_FP32_RANGE[0]}-{MORRIS_FP32_RANGE[1]}"
        )  # fmt: skip
        lines.append(
            f"    {p['model']:<6}{p['n_params']:>9,} params ({p['embedding_share']:.0%} "
            f"embedding): {p['bpp_predicted']:.2f} {ci_text(*p['ci95'], '.2f')} bits/param   "
            f"({theirs})"
        )
    trend = v.get("morris_prediction_by_trend") or []
    if trend:
        lines.append(
            "  ... with each term's trend in log2 V (weighted by each V's precision) read at "
            f"V=2048 (a = "
            f"{trend[0]['bits_per_body_param']:.2f}, b = {trend[0]['bits_per_embedding_param']:.2f}"
            "; extrapolated from V <= 256):"
        )
        for p in trend:
            theirs = f"Morris fp32 {p['morris_fp32']:.2f}" if p["morris_fp32"] else ""
            lines.append(
                f"    {p['model']:<6}{p['n_params']:>9,} params: {p['bpp_predicted']:.2f} "
                f"{ci_text(*p['ci95'], '.2f')} bits/param   {theirs}".rstrip()
            )
    return "\n".join(lines)
