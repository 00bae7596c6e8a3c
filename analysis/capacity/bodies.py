"""Where 3.6 comes from, identified: a body parameter's bits from two bodies at one vocabulary.

The twins of the vocab preset (tied and untied at one body) give each V two equations in three
unknowns: bits per body parameter a_V, per tied and per untied embedding parameter. Their
decomposition holds only if a tied and an untied embedding parameter store the same, which is
what tying is asked to test. Here the bodies preset trains, at each (V, tying, dtype), two
bodies that share d_model and so every embedding and position parameter, and differ only in
depth. Their capacity difference over their body difference is a_V, with no assumption about
the embedding:

    a_V = (C_deep - C_shallow) / (body_deep - body_shallow)     per seed, then over seeds
    b_V = (C_shallow - a_V x (body + positions)_shallow) / embedding

(positions are counted with the body, as everywhere in the capacity analysis: one learned
vector a position, the same in both bodies, so they drop out of a_V and only b_V depends on
that choice). Seeds pair the two bodies by ``seed`` (the same data seed; the deeper body's N is
larger). A seed's a_V is exact when both of its runs converged; a lower bound when only the
deep one is a bound (C_deep can only be higher); unknown when the shallow one is a bound (the
difference can then move either way), and then it is left out, never averaged in.

Claims (``analysis.common.compare``): "a body parameter holds more bits at larger V" compares
a at the largest V with a at V = 2, unpaired over seeds (different V, different data); tying
compares a and b tied against untied at one V. The Morris et al. prediction is made under each
model that fits these a_V and b_V: a constant or rising in log2 V, one b or b apart for tied
and untied; its spread over the models is reported beside each model's own interval, and the
verdict on Morris's 4.23 is "not decided" wherever that spread covers it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from analysis.capacity.morris import MORRIS_1X32_FP32, MORRIS_V, d32_models
from analysis.common.compare import HELD, NOT_HELD, UNDECIDED, compare
from analysis.common.fit import ci_text, mean_ci95, t975

EXACT, BOUND, UNKNOWN = "exact", ">=", "?"
GROUP = ["data.vocab_size", "model.tie_embeddings", "optim.dtype"]


def body_pairs(cap: pd.DataFrame) -> pd.DataFrame:
    """Per (V, tying, dtype, seed): the two bodies' capacities, their body difference, a_V and
    b_V for that seed and whether they are exact, a bound or unknown. Empty when no (V, tying,
    dtype) holds two presets with the same embedding and position counts and different bodies.

    ``cap``: the capacity table (one row per group and seed: model.base, the GROUP axes,
    n_params_{embedding,position,body}, capacity_bits, plateau_reached, seed)."""
    need = {"model.base", "n_params_body", "n_params_embedding", "n_params_position", *GROUP}
    if cap.empty or not need <= set(cap):
        return pd.DataFrame()
    rows = []
    for key, d in cap.groupby(GROUP, sort=False):
        for _, same in d.groupby(["n_params_embedding", "n_params_position"]):
            bodies = same.groupby("model.base")["n_params_body"].first().sort_values()
            if len(bodies) < 2:
                continue
            small, large = bodies.index[0], bodies.index[-1]  # the extremes: the widest lever
            s = same[same["model.base"] == small].set_index("seed")
            g = same[same["model.base"] == large].set_index("seed")
            for seed in sorted(set(s.index) & set(g.index)):
                rs, rg = s.loc[seed], g.loc[seed]
                d_body = int(rg["n_params_body"]) - int(rs["n_params_body"])
                conv_s, conv_g = bool(rs["plateau_reached"]), bool(rg["plateau_reached"])
                a = (float(rg["capacity_bits"]) - float(rs["capacity_bits"])) / d_body
                status = EXACT if conv_s and conv_g else (BOUND if conv_s else UNKNOWN)
                nonemb = int(rs["n_params_body"]) + int(rs["n_params_position"])
                emb = int(rs["n_params_embedding"])
                b = (float(rs["capacity_bits"]) - a * nonemb) / emb
                rows.append({
                    "vocab_size": int(key[0]), "tied": bool(key[1]), "dtype": str(key[2]),
                    "seed": int(seed), "shallow": str(small), "deep": str(large),
                    "body_shallow": int(rs["n_params_body"]), "body_deep": int(rg["n_params_body"]),
                    "d_body": d_body, "non_embedding_shallow": nonemb, "embedding": emb,
                    "capacity_shallow": float(rs["capacity_bits"]),
                    "capacity_deep": float(rg["capacity_bits"]),
                    "a": a if status != UNKNOWN else math.nan,
                    # b from a bound on a is no bound (a enters with a minus sign): exact only
                    "b": b if status == EXACT else math.nan,
                    "status": status,
                })  # fmt: skip
    return pd.DataFrame(rows)


def body_table(pairs: pd.DataFrame) -> pd.DataFrame:
    """One row per (V, tying, dtype): a_V and b_V over seeds with 95% t intervals when every
    seed is exact; when a seed is a bound, a's mean counts it at its bound and is itself a
    bound (no interval); seeds whose a is unknown are left out and counted."""
    rows = []
    if pairs.empty:
        return pd.DataFrame(rows)
    for (v, tied, dtype), d in pairs.groupby(["vocab_size", "tied", "dtype"], sort=True):
        known = d[d["status"] != UNKNOWN]
        exact = d[d["status"] == EXACT]
        all_exact = len(exact) == len(d)
        a = mean_ci95(known["a"].to_numpy()) if all_exact else (
            float(known["a"].mean()) if len(known) else math.nan, math.nan, math.nan
        )  # fmt: skip
        b = mean_ci95(exact["b"].to_numpy()) if len(exact) else (math.nan,) * 3
        if not all_exact:
            b = (b[0], math.nan, math.nan)
        first = d.iloc[0]
        rows.append({
            "vocab_size": int(v), "tied": bool(tied), "dtype": dtype,
            "shallow": first["shallow"], "deep": first["deep"], "d_body": int(first["d_body"]),
            "embedding": int(first["embedding"]),
            "n_seeds": len(d), "n_exact": len(exact),
            "n_unknown": int((d["status"] == UNKNOWN).sum()),
            "a_bound": "" if all_exact else (">=" if len(known) == len(d) else "?"),
            "a": a[0], "a_ci95": [a[1], a[2]], "a_sd": float(known["a"].std(ddof=1))
            if len(known) > 1 else math.nan,
            "b": b[0], "b_ci95": [b[1], b[2]],
            "b_sd": float(exact["b"].std(ddof=1)) if len(exact) > 1 else math.nan,
        })  # fmt: skip
    return pd.DataFrame(rows)


def _values(pairs: pd.DataFrame, col: str, **where: Any) -> pd.DataFrame:
    d = pairs
    for k, v in where.items():
        d = d[d[k] == v]
    return d[d[col].notna()]


def body_comparisons(pairs: pd.DataFrame) -> list[dict[str, Any]]:
    """The claims, each by the comparison rule:

    - "a body parameter holds more bits at larger V": a at each larger V against a at the
      smallest V (claim "greater"), per tying and dtype, unpaired (different V, different data);
    - tying at one V: a and b tied against untied (claim "differ"), unpaired (different shapes,
      different inits)."""
    out: list[dict[str, Any]] = []
    if pairs.empty:
        return out
    for (tied, dtype), d in pairs.groupby(["tied", "dtype"], sort=True):
        vs = sorted(d["vocab_size"].unique())
        for v in vs[1:]:
            hi, lo = _values(d, "a", vocab_size=v), _values(d, "a", vocab_size=vs[0])
            c = compare(hi["a"], lo["a"], claim="greater",
                        a_bounds=hi["status"] == BOUND, b_bounds=lo["status"] == BOUND)  # fmt: skip
            out.append({"what": f"a(V={v}) - a(V={vs[0]})", "term": "a", "tied": bool(tied),
                        "dtype": dtype, **c.as_dict(), "text": c.text()})  # fmt: skip
    for (v, dtype), d in pairs.groupby(["vocab_size", "dtype"], sort=True):
        if d["tied"].nunique() < 2:
            continue
        for term in ("a", "b"):
            t, u = _values(d, term, tied=True), _values(d, term, tied=False)
            kw = {} if term == "b" else {"a_bounds": t["status"] == BOUND,
                                         "b_bounds": u["status"] == BOUND}  # fmt: skip
            c = compare(t[term], u[term], claim="differ", **kw)
            out.append({"what": f"{term} tied - untied at V={v}", "term": term, "tied": None,
                        "dtype": dtype, "vocab_size": int(v), **c.as_dict(),
                        "text": c.text()})  # fmt: skip
    return out


def _weighted_line(x: np.ndarray, y: np.ndarray, se: np.ndarray, at: float, seed_dof: int
                   ) -> tuple[float, float, int]:  # fmt: skip
    """Weighted least squares y = p0 + p1 x (weights 1/se^2), read at ``at``: (value, its
    standard error, dof). With more points than 2 the errors are scaled up by the fit's
    residual (never down) and the dof is the fit's; through 2 points the line is exact and its
    error is the points' own, propagated, with ``seed_dof`` (the seeds behind each point)."""
    w = 1.0 / se**2
    X = np.column_stack([np.ones_like(x), x])
    cov = np.linalg.inv(X.T @ (X * w[:, None]))
    p = cov @ (X.T @ (w * y))
    dof = len(x) - 2
    if dof > 0:
        chi2 = float(np.sum(w * (y - X @ p) ** 2)) / dof
        cov = cov * max(chi2, 1.0)  # never narrower than the seeds' own errors say
    g = np.array([1.0, at])
    return float(g @ p), math.sqrt(float(g @ cov @ g)), dof if dof > 0 else seed_dof


def _weighted_mean(y: np.ndarray, se: np.ndarray, seed_dof: int) -> tuple[float, float, int]:
    """Inverse-variance mean, its error scaled up (never down) by the rows' scatter, with the
    rows' dof; one row keeps its own error and its seeds' dof (``seed_dof``)."""
    w = 1.0 / se**2
    m = float(np.sum(w * y) / w.sum())
    var = 1.0 / w.sum()
    dof = len(y) - 1
    if dof > 0:
        var *= max(float(np.sum(w * (y - m) ** 2)) / dof, 1.0)
    return m, math.sqrt(var), dof if dof > 0 else seed_dof


def morris_models(table: pd.DataFrame) -> list[dict[str, Any]]:
    """The models of (a, b) that fit the measured a_V and b_V (fp32 rows with intervals), each
    read at Morris et al.'s V = 2048, tied: a constant or linear in log2 V; b pooled over tying
    or the tied rows' own. Each carries its value, standard error and degrees of freedom; a
    model the data cannot fit (too few V, no tied b) is left out and named."""
    t = table[(table["dtype"] == "fp32") & (table["a_bound"] == "")] if len(table) else table
    models: list[dict[str, Any]] = []
    if t.empty:
        return models

    def se(col: str, d: pd.DataFrame) -> np.ndarray:
        lo = np.array([c[0] for c in d[f"{col}_ci95"]], dtype=float)
        hi = np.array([c[1] for c in d[f"{col}_ci95"]], dtype=float)
        n = d["n_exact"].to_numpy()
        return (hi - lo) / 2 / np.array([t975(int(k) - 1) for k in n])

    a_rows = t[np.isfinite(se("a", t))]
    b_rows = t[np.isfinite(se("b", t))]
    if a_rows.empty or b_rows.empty:
        return models
    x_a = np.log2(a_rows["vocab_size"].to_numpy(dtype=float))
    a_terms = {"a constant": _weighted_mean(a_rows["a"].to_numpy(), se("a", a_rows),
                                            int(a_rows["n_exact"].min()) - 1)}  # fmt: skip
    if len(np.unique(x_a)) >= 2:  # through two V exact (no test of the line), its error the V's
        a_terms["a rising in log2 V"] = _weighted_line(
            x_a, a_rows["a"].to_numpy(), se("a", a_rows), math.log2(MORRIS_V),
            int(a_rows["n_exact"].min()) - 1,
        )  # fmt: skip
    b_terms = {"one b": _weighted_mean(b_rows["b"].to_numpy(), se("b", b_rows),
                                       int(b_rows["n_exact"].min()) - 1)}  # fmt: skip
    tied_b = b_rows[b_rows["tied"]]
    if len(tied_b):
        b_terms["b tied"] = _weighted_mean(tied_b["b"].to_numpy(), se("b", tied_b),
                                           int(tied_b["n_exact"].min()) - 1)  # fmt: skip
    for a_name, (a, a_se, a_dof) in a_terms.items():
        for b_name, (b, b_se, b_dof) in b_terms.items():
            models.append({"model": f"{a_name}, {b_name}", "a": a, "a_se": a_se, "a_dof": a_dof,
                           "b": b, "b_se": b_se, "b_dof": b_dof})  # fmt: skip
    return models


def next_measurement(table: pd.DataFrame) -> list[dict[str, Any]]:
    """Which one more V of the bodies design would shrink the rising-a model's error at
    V = 2048 most: for each V not measured (16, 64, 1,024), the error of a at 2,048 with that V
    added at the error of the nearest measured V (the same seeds and budget); [] without the
    rising-a model. A planning figure, not a measurement: the added point's value does not
    enter the error of a weighted line, only its x and its error."""
    t = table[(table["dtype"] == "fp32") & (table["a_bound"] == "")] if len(table) else table
    if t.empty:
        return []
    half = np.array([(c[1] - c[0]) / 2 for c in t["a_ci95"]], dtype=float)
    se = half / np.array([t975(int(k) - 1) for k in t["n_exact"]])
    keep = np.isfinite(se)
    x = np.log2(t["vocab_size"].to_numpy(dtype=float))[keep]
    se = se[keep]
    if len(np.unique(x)) < 2:
        return []

    def err(xs: np.ndarray, ses: np.ndarray) -> float:
        w = 1.0 / ses**2
        X = np.column_stack([np.ones_like(xs), xs])
        g = np.array([1.0, math.log2(MORRIS_V)])
        return math.sqrt(float(g @ np.linalg.inv(X.T @ (X * w[:, None])) @ g))

    out = [{"added": "none", "a_se_at_2048": err(x, se)}]
    for v in (16, 64, 1024):
        if math.log2(v) in set(x):
            continue
        near = se[np.argmin(np.abs(x - math.log2(v)))]
        out.append(
            {
                "added": f"V={v}",
                "a_se_at_2048": err(np.append(x, math.log2(v)), np.append(se, near)),
            }
        )
    return out


def morris_spread(models: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each of Morris et al.'s d_model 32 models (1, 2, 4, 8 layers; V = 2048, T = 64, tied)
    predicted under every fitted model, with each model's 95% interval (a and b from separate
    data, so their variances add; t with the smaller dof) and the spread over the models; for
    1 x 32, the verdict on Morris's 4.23: "not decided" when the spread of the intervals covers
    it, "did not hold" when every model's interval excludes it on one side. The figures are
    extrapolations (V 256 -> 2,048, d_model 8 -> 32) that no interval here bounds."""
    out = []
    for m in d32_models():
        total, nonemb, emb = m.n_params, m.non_embedding, m.embedding
        preds = []
        for mod in models:
            cap = mod["a"] * nonemb + mod["b"] * emb
            t = t975(min(mod["a_dof"], mod["b_dof"]))
            half = t * math.sqrt((mod["a_se"] * nonemb) ** 2 + (mod["b_se"] * emb) ** 2)
            preds.append({"model": mod["model"], "bpp": cap / total,
                          "ci95": [(cap - half) / total, (cap + half) / total]})  # fmt: skip
        row: dict[str, Any] = {"morris_model": m.name, "n_params": total,
                               "embedding_share": emb / total, "predictions": preds}  # fmt: skip
        if preds:
            lows = [p["ci95"][0] for p in preds]
            highs = [p["ci95"][1] for p in preds]
            row["spread"] = [min(p["bpp"] for p in preds), max(p["bpp"] for p in preds)]
            row["envelope"] = [min(lows), max(highs)]
        if m.n_layer == 1:
            row["morris_fp32"] = MORRIS_1X32_FP32
            row["verdict"] = _verdict_on(MORRIS_1X32_FP32, preds)
        out.append(row)
    return out


def _verdict_on(figure: float, preds: list[dict[str, Any]]) -> str:
    """Whether the predictions reproduce ``figure``: held when every model's interval covers it,
    did not hold when every model's interval excludes it on the same side, not decided else
    (the models disagree, or an interval is missing)."""
    if not preds or any(not np.all(np.isfinite(p["ci95"])) for p in preds):
        return UNDECIDED
    if all(p["ci95"][0] <= figure <= p["ci95"][1] for p in preds):
        return HELD
    if all(p["ci95"][1] < figure for p in preds) or all(p["ci95"][0] > figure for p in preds):
        return NOT_HELD
    return UNDECIDED


def bodies_summary(cap: pd.DataFrame) -> dict[str, Any] | None:
    """The bodies section of the capacity summary, or None without two bodies at any V."""
    pairs = body_pairs(cap)
    if pairs.empty:
        return None
    table = body_table(pairs)
    models = morris_models(table)
    return {
        "pairs": pairs.to_dict(orient="records"),
        "table": table.to_dict(orient="records"),
        "comparisons": body_comparisons(pairs),
        "morris_models": models,
        "morris_prediction": morris_spread(models),
        "next_measurement": next_measurement(table),
    }


def format_bodies(s: dict[str, Any]) -> str:
    lines = [
        "bits per body parameter from two bodies at each V (same embedding; a = capacity "
        "difference / body difference, per seed, then over seeds; '>=' a bound, '?' a seed "
        "whose shallow run is a bound):",
        f"  {'V':>5}{'tied':>6}{'dtype':>7}{'bodies':>22}{'d body':>8}{'emb':>7}{'seeds':>7}"
        f"{'a (bits/body param)':>22}{'95% CI':>16}{'b (bits/emb param)':>21}{'95% CI':>18}",
    ]
    for r in s["table"]:
        lines.append(
            f"  {r['vocab_size']:>5}{'yes' if r['tied'] else 'no':>6}{r['dtype']:>7}"
            f"{r['shallow'] + ' / ' + r['deep']:>22}{r['d_body']:>8,}{r['embedding']:>7,}"
            f"{str(r['n_exact']) + '/' + str(r['n_seeds']):>7}"
            f"{r['a_bound'] + format(r['a'], '.3f'):>22}{ci_text(*r['a_ci95']):>16}"
            f"{format(r['b'], '.3f'):>21}{ci_text(*r['b_ci95']):>18}"
        )
    if s["comparisons"]:
        lines.append("  claims (held / did not hold / not decided by the seeds):")
        for c in s["comparisons"]:
            tag = "" if c["tied"] is None else (" tied" if c["tied"] else " untied")
            lines.append(f"    {c['what']}{tag} ({c['dtype']}): {c['text']}")
    preds = s["morris_prediction"]
    if s["morris_models"]:
        lines.append(
            "  Morris et al.'s d_model 32 models (V=2048, tied) under each model that fits a and "
            "b (extrapolated from d_model 8 and V <= 256: no interval bounds that step):"
        )
        for r in preds:
            each = "; ".join(f"{p['model']}: {p['bpp']:.2f} {ci_text(*p['ci95'], '.2f')}"
                             for p in r["predictions"])  # fmt: skip
            tail = ""
            if "verdict" in r:
                tail = f"  -> Morris fp32 {r['morris_fp32']:.2f}: {r['verdict']}"
            lines.append(
                f"    {r['morris_model']:<5} spread {r['spread'][0]:.2f}-{r['spread'][1]:.2f}, "
                f"intervals {r['envelope'][0]:.2f}-{r['envelope'][1]:.2f} ({each}){tail}"
            )
    else:
        lines.append("  no Morris prediction: no fp32 (V, tying) has a and b with intervals")
    nxt = s.get("next_measurement") or []
    if len(nxt) > 1:
        lines.append(
            "  the error of a at V=2048 (rising-a model) with one more V of the design "
            "(at its nearest measured V's error): "
            + ", ".join(f"{n['added']} {n['a_se_at_2048']:.2f}" for n in nxt)
        )
    return "\n".join(lines)
