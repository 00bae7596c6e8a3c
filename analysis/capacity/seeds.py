"""Where capacity's spread over seeds comes from: the data draw, the initialisation, or neither.

A trial's ``seed`` draws both its data and its initialisation; ``data.seed`` and ``init_seed``
draw them apart. A model run over a crossed design (every data seed with every init seed, one
trial each: the ``seeds`` preset's 3 x 3) splits the variance of its capacity by a two-way
analysis of variance without replication, random effects:

    capacity[d, i] = mu + D_d + I_i + e_di,   var = s2_data + s2_init + s2_resid

with row (data) and column (init) means r_d, c_i and grand mean m over an a x b table,

    MS_data  = b sum_d (r_d - m)^2 / (a - 1)
    MS_init  = a sum_i (c_i - m)^2 / (b - 1)
    MS_resid = sum (y - r_d - c_i + m)^2 / ((a - 1)(b - 1))
    s2_resid = MS_resid,  s2_data = max(0, (MS_data - MS_resid) / b),
    s2_init = max(0, (MS_init - MS_resid) / a)

and F = MS_data / MS_resid (MS_init / MS_resid) tests whether the data (init) moves capacity
beyond the residual. The residual is the interaction of a draw with an init: which init suits
which data set. A rerun on another machine keeps the data and changes the float order, which
acts like another init: it moves a figure by about sqrt(s2_init + s2_resid).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats


def variance_split(y: np.ndarray) -> dict[str, float]:
    """The two-way random-effects split of an (a data x b init) table, one run a cell."""
    y = np.asarray(y, dtype=float)
    a, b = y.shape
    if a < 2 or b < 2:
        raise ValueError(f"a variance split needs >= 2 data seeds x >= 2 init seeds, got {a} x {b}")
    m, r, c = y.mean(), y.mean(axis=1), y.mean(axis=0)
    df_d, df_i, df_e = a - 1, b - 1, (a - 1) * (b - 1)
    ms_d = b * ((r - m) ** 2).sum() / df_d
    ms_i = a * ((c - m) ** 2).sum() / df_i
    ms_e = ((y - r[:, None] - c[None, :] + m) ** 2).sum() / df_e
    s2_d, s2_i = max(0.0, (ms_d - ms_e) / b), max(0.0, (ms_i - ms_e) / a)
    total = s2_d + s2_i + ms_e

    def p_value(ms: float, dof: int) -> float:
        return float(stats.f.sf(ms / ms_e, dof, df_e)) if ms_e > 0 else math.nan

    return {
        "mean": float(m), "n_data": a, "n_init": b,
        "ms_data": float(ms_d), "ms_init": float(ms_i), "ms_resid": float(ms_e),
        "var_data": s2_d, "var_init": s2_i, "var_resid": float(ms_e), "var_total": total,
        "share_data": s2_d / total if total > 0 else math.nan,
        "share_init": s2_i / total if total > 0 else math.nan,
        "share_resid": ms_e / total if total > 0 else math.nan,
        "p_data": p_value(ms_d, df_d), "p_init": p_value(ms_i, df_i),
        "sd_seed_rel": math.sqrt(total) / m,  # a new seed: a new draw and a new init
        "sd_same_data_rel": math.sqrt(s2_i + ms_e) / m,  # the same data, another init
        "sd_runs_rel": float(y.std(ddof=1) / m),  # the plain spread of the a x b runs
        "range_rel": float((y.max() - y.min()) / m),
    }  # fmt: skip


def seed_designs(cap: pd.DataFrame) -> list[dict[str, Any]]:
    """The variance split of every model whose converged capacities (bits/param) cross >= 2
    data seeds with >= 2 init seeds, every cell filled once; [] when none does. A design with a
    lower-bound cell is left out and named: a split of bounds is no split of capacities."""
    out = []
    if not {"data.seed", "init_seed"} <= set(cap):
        return out
    for name, d in cap.groupby("model.name", sort=False):
        grid = d.pivot_table(index="data.seed", columns="init_seed", values="bpp", aggfunc="count")
        full = grid.notna().all().all() and (grid == 1).all().all()
        if grid.shape[0] < 2 or grid.shape[1] < 2 or not full:
            continue
        row: dict[str, Any] = {"model.name": name}
        if not d["plateau_reached"].all():
            row["not_split"] = f"{int((~d['plateau_reached']).sum())} cell(s) are lower bounds"
            out.append(row)
            continue
        y = d.pivot(index="data.seed", columns="init_seed", values="bpp")
        row.update(variance_split(y.to_numpy()))
        row["table"] = {int(k): {int(i): float(v) for i, v in r.items()} for k, r in y.iterrows()}
        out.append(row)
    return out


def format_seed_designs(designs: list[dict[str, Any]]) -> str:
    lines = ["where the seed spread comes from (crossed data x init seeds; bits/param):"]
    for s in designs:
        if "not_split" in s:
            lines.append(f"  {s['model.name']}: not split, {s['not_split']}")
            continue
        inits = sorted(next(iter(s["table"].values())))
        lines.append(f"  {s['model.name']}: {s['n_data']} data draws x {s['n_init']} inits")
        lines.append("    " + "data \\ init".ljust(12) + "".join(f"{i:>8}" for i in inits))
        for d, r in sorted(s["table"].items()):
            lines.append("    " + f"{d:<12}" + "".join(f"{r[i]:>8.3f}" for i in inits))
        lines.append(
            f"    variance: data {s['share_data']:.0%} (F p={s['p_data']:.2f}), init "
            f"{s['share_init']:.0%} (p={s['p_init']:.2f}), residual (draw x init) "
            f"{s['share_resid']:.0%}"
        )
        lines.append(
            f"    sd over seeds: +-{s['sd_seed_rel']:.1%} of {s['mean']:.3f} (a new seed); "
            f"+-{s['sd_same_data_rel']:.1%} with the data fixed (another machine's float order "
            f"acts like another init); the {s['n_data'] * s['n_init']} runs span "
            f"{s['range_rel']:.0%}"
        )
    return "\n".join(lines)
