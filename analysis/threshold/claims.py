"""Seed 004's claims, each checked against the measured thresholds, per stopping protocol.

The seed states five qualitative findings beside its two tables. Each is turned here into one
comparison of per-model thresholds (mean over seeds, with the range over seeds), so that a
verdict is a reading of the numbers, not of a plot: ``held``, ``did not hold``, ``not decided``
(a side of a deciding comparison is a lower bound that does not settle it), or ``not measured``
when the experiment lacks the models it needs. When an experiment holds several protocols (the
seed's 3-epoch plateau stop and memtune's patient rule), every claim is judged under each, and
the overall verdict is ``differs by protocol`` when they disagree. A comparison whose two sides'
seed ranges overlap is marked "(within the seed range)": it held or failed on the means only.

Censoring: a group whose search memorized its cap (or left a deciding size unresolved) has a
threshold that is only a lower bound, drawn ">=". A lower bound can only rise, so "a > b" is
decided when a is above b and b is exact (a's true value is higher still), and "a <= b" when a
is exact and not above b; every other comparison with a bound in it is ``not decided``. A
statistic of bounds (a rank correlation, a ratio) is printed only over exact groups.
"""

from __future__ import annotations

import pandas as pd
from scipy.stats import spearmanr

# The seed's claims, in its words, with the comparison that tests each.
CLAIMS = {
    "mlp_shallow": (
        "Wider and shallower MLPs memorize better",
        "at every budget, 1 hidden layer has the highest threshold of depths 1-4",
    ),
    "mlp_deep_collapse": (
        "Deep MLPs collapse even with more parameters",
        "at some budget the deepest MLP memorizes fewer mappings than the shallowest one at a "
        "smaller budget",
    ),
    "heads_help": (
        "Attention heads improve memorization",
        "at every budget and depth, the most heads beat 1 head (and Spearman rho > 0)",
    ),
    "depth_mildly_hurts": (
        "Depth mildly reduces performance (transformers)",
        "2 blocks memorize less than 1 at the same budget and heads, but more than half as much "
        "(median ratio in [0.5, 1))",
    ),
    "transformers_less_efficient": (
        "Transformers less efficient than MLPs for pure memorization",
        "the best transformer stores fewer bits per parameter at its threshold than the best MLP",
    ),
}


def _fmt(m: pd.Series) -> str:
    mark = ">=" if is_lower_bound(m) else ""
    spread = "" if m["threshold_min"] == m["threshold_max"] else (
        f" [{m['threshold_min']}-{m['threshold_max']}]"
    )  # fmt: skip
    return f"{mark}{m['threshold_mean']:.0f}{spread}"


def is_lower_bound(m: pd.Series) -> bool:
    """A threshold that is only a lower bound (the search's cap was memorized, or unresolved)."""
    return bool(m["censored"]) or not bool(m["resolved"])


def above(a: pd.Series, b: pd.Series, value: str = "threshold_mean") -> bool | None:
    """Whether a's ``value`` is above b's, or None when lower bounds leave it open.

    A lower bound only rises: a above b is settled when b is exact, a not above b when a is.
    """
    if a[value] > b[value]:
        return None if is_lower_bound(b) else True
    return None if is_lower_bound(a) else False


def _apart(a: pd.Series, b: pd.Series) -> bool:
    """Whether the seed ranges settle the comparison: a's smallest above b's largest (b exact),
    or b's smallest above a's largest (a exact)."""
    return bool(
        (a["threshold_min"] > b["threshold_max"] and not is_lower_bound(b))
        or (b["threshold_min"] > a["threshold_max"] and not is_lower_bound(a))
    )


def _verdict(ok: bool, apart: bool) -> str:
    return ("held" if ok else "did not hold") + ("" if apart else " (within the seed range)")


NOT_DECIDED = "not decided"


def _mlp_shallow(d: pd.DataFrame) -> tuple[str, str]:
    mlp = d[d["model.arch"] == "mlp"]
    parts, held, robust = [], [], []
    for budget, g in mlp.groupby("model.budget"):
        if g["model.n_layer"].nunique() < 2:
            continue
        g = g.sort_values("model.n_layer")
        shallow, deeper = g.iloc[0], g.iloc[1:]
        for _, rival in deeper.iterrows():  # above every deeper one, each comparison settled
            held.append(above(shallow, rival))
            robust.append(_apart(shallow, rival))
        depths = ", ".join(f"L{int(r['model.n_layer'])} {_fmt(r)}" for _, r in g.iterrows())
        parts.append(f"{budget / 1000:g}K: {depths}")
    if not parts:
        return "not measured", "needs MLPs of 2 or more depths at one budget"
    return _overall(held, robust), "; ".join(parts)


def _overall(held: list[bool | None], robust: list[bool]) -> str:
    """Held if every comparison held; did not hold if one settled comparison failed; not decided
    if none failed but a lower bound left one open. The verdict is qualified when the
    comparisons that decide it (all of them if it held, the failed ones if not) are within the
    seed range."""
    if any(h is False for h in held):
        return _verdict(False, any(r for h, r in zip(held, robust, strict=True) if h is False))
    if any(h is None for h in held):
        return NOT_DECIDED
    return _verdict(True, all(robust))


def _some(held: list[bool | None], robust: list[bool]) -> str:
    """Held if some comparison held; not decided if none held but one was left open by a bound;
    did not hold if every one failed."""
    if any(held):
        return _verdict(True, any(r for h, r in zip(held, robust, strict=True) if h))
    if any(h is None for h in held):
        return NOT_DECIDED
    return _verdict(False, all(robust))


def _mlp_deep_collapse(d: pd.DataFrame) -> tuple[str, str]:
    """Held if, for some pair of budgets, the deepest MLP at the larger one memorizes fewer
    mappings than the shallowest at the smaller one (more parameters, less memorized)."""
    mlp = d[d["model.arch"] == "mlp"]
    budgets = sorted(b for b, g in mlp.groupby("model.budget") if g["model.n_layer"].nunique() > 1)
    shallow = {b: g.sort_values("model.n_layer").iloc[0] for b, g in mlp.groupby("model.budget")}
    pairs, held, robust = [], [], []
    for large in budgets:
        deep = mlp[mlp["model.budget"] == large].sort_values("model.n_layer").iloc[-1]
        for small in (b for b in shallow if b < large):
            lo = shallow[small]
            held.append(above(lo, deep))
            robust.append(_apart(deep, lo))
            pairs.append(
                f"{large / 1000:g}K L{int(deep['model.n_layer'])} {_fmt(deep)} vs "
                f"{small / 1000:g}K L{int(lo['model.n_layer'])} {_fmt(lo)}"
            )
    if not pairs:
        return "not measured", "needs MLPs of 2 or more depths at a budget above another"
    return _some(held, robust), "; ".join(pairs)


def _heads_help(d: pd.DataFrame) -> tuple[str, str]:
    tr = d[d["model.arch"] == "transformer"]
    parts, held, robust, rhos = [], [], [], []
    for (budget, n_layer), g in tr.groupby(["model.budget", "model.n_layer"]):
        if g["model.n_head"].nunique() < 2:
            continue
        g = g.sort_values("model.n_head")
        one, most = g.iloc[0], g.iloc[-1]
        held.append(above(most, one))
        robust.append(_apart(most, one))
        exact = not any(is_lower_bound(r) for _, r in g.iterrows())
        rho = spearmanr(g["model.n_head"], g["threshold_mean"]).statistic if exact else None
        if rho is not None:
            rhos.append(rho)
        shown = f"rho {rho:+.2f}" if rho is not None else "rho not computed over lower bounds"
        parts.append(
            f"{budget / 1000:g}K L{n_layer}: H{int(one['model.n_head'])} {_fmt(one)} -> "
            f"H{int(most['model.n_head'])} {_fmt(most)} ({shown}"
            + ("" if held[-1] is not None else ", not decided")
            + ")"
        )
    if not parts:
        return "not measured", "needs transformers of 2 or more head counts at one budget"
    if rhos:
        held.append(bool(pd.Series(rhos).mean() > 0))
        robust.append(True)
    return _overall(held, robust), "; ".join(parts)


def _depth_mildly_hurts(d: pd.DataFrame) -> tuple[str, str]:
    tr = d[d["model.arch"] == "transformer"]
    one = tr[tr["model.n_layer"] == 1].set_index(["model.budget", "model.n_head"])
    two = tr[tr["model.n_layer"] == 2].set_index(["model.budget", "model.n_head"])
    both = one.index.intersection(two.index)
    if both.empty:
        return "not measured", "needs transformers of 1 and 2 blocks at the same budget and heads"
    exact = [k for k in both if not is_lower_bound(one.loc[k]) and not is_lower_bound(two.loc[k])]
    left_out = len(both) - len(exact)
    if not exact:
        return NOT_DECIDED, f"every one of {len(both)} shapes has a lower bound; no ratio computed"
    both = pd.MultiIndex.from_tuples(exact, names=one.index.names)
    ratios = two.loc[both, "threshold_mean"] / one.loc[both, "threshold_mean"].where(
        one.loc[both, "threshold_mean"] > 0
    )
    median = float(ratios.median())
    worse = int((ratios < 1).sum())
    apart = sum(_apart(one.loc[k], two.loc[k]) for k in both)
    text = (
        f"2 blocks / 1 block: median {median:.2f} (range {ratios.min():.2f}-{ratios.max():.2f}) "
        f"over {len(both)} shapes; 2 blocks lower in {worse}, seed ranges apart in {apart}"
        + (f"; {left_out} shape(s) with a lower bound left out" if left_out else "")
    )
    return _verdict(0.5 <= median < 1, apart > len(both) / 2), text


def _transformers_less_efficient(d: pd.DataFrame) -> tuple[str, str]:
    by_arch = dict(list(d.groupby("model.arch")))
    if set(by_arch) != {"mlp", "transformer"}:
        return "not measured", "needs both MLPs and transformers"
    best = {a: g.loc[g["bits_per_param"].idxmax()] for a, g in by_arch.items()}
    # held: every transformer below the best MLP (each one settled, a bound could be the best)
    held = [above(best["mlp"], t, "bits_per_param") for _, t in by_arch["transformer"].iterrows()]
    text = ", ".join(
        f"best {a} {b['label']} {'>=' if is_lower_bound(b) else ''}{b['bits_per_param']:.2f} "
        f"bits/param ({_fmt(b)} mappings)"
        for a, b in best.items()
    )
    return _overall(held, [True] * len(held)), text


CHECKS = {
    "mlp_shallow": _mlp_shallow,
    "mlp_deep_collapse": _mlp_deep_collapse,
    "heads_help": _heads_help,
    "depth_mildly_hurts": _depth_mildly_hurts,
    "transformers_less_efficient": _transformers_less_efficient,
}


def judge_claims(models: pd.DataFrame) -> pd.DataFrame:
    """One row per (claim, protocol) and one overall row per claim (protocol "all")."""
    rows = []
    for key, (claim, test) in CLAIMS.items():
        verdicts = []
        for protocol, d in models.groupby("protocol", sort=True):
            verdict, measured = CHECKS[key](d)
            verdicts.append(verdict)
            rows.append({"claim_id": key, "claim": claim, "test": test, "protocol": protocol,
                         "verdict": verdict, "measured": measured})  # fmt: skip
        overall = overall_verdict(verdicts)
        if len(verdicts) > 1:
            rows.append({"claim_id": key, "claim": claim, "test": test, "protocol": "all",
                         "verdict": overall, "measured": ""})  # fmt: skip
    return pd.DataFrame(rows)


def overall_verdict(verdicts: list[str]) -> str:
    """One verdict over protocols: theirs when they agree (keeping a "(within the seed range)"
    qualifier any of them has), "differs by protocol" when settled ones disagree, and the settled
    one qualified "(not decided under another protocol)" when the others are open."""
    measured = [v for v in verdicts if v != "not measured"]
    settled = [v for v in measured if v != NOT_DECIDED]
    if not measured:
        return "not measured"
    if not settled:
        return NOT_DECIDED
    plain = {v.split(" (")[0] for v in settled}
    if len(plain) > 1:
        return "differs by protocol"
    qualifiers = [q for v in settled if " (" in v for q in [v[v.index(" (") :]]]
    out = plain.pop() + (qualifiers[0] if qualifiers else "")
    if len(settled) < len(measured):
        out += " (not decided under another protocol)"
    return out


def format_claims(claims: pd.DataFrame) -> list[str]:
    lines = ["", "  seed 004's claims (mean threshold over seeds [range]):"]
    for _, g in claims.groupby("claim_id", sort=False):
        lines.append(f"  - {g['claim'].iloc[0]}: {g['verdict'].iloc[-1]}")
        for _, r in g[g["protocol"] != "all"].iterrows():
            name = r["protocol"] or "measured"
            lines.append(f"      {name}: {r['verdict']}; {r['measured']}")
    return lines
