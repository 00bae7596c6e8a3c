"""The comparison rule: a difference between two groups is decided against the seeds' variation.

Seeds are the unit of replication. A difference between two groups of runs (tied against untied,
fp32 against bf16, one schedule against another) is

- **held** when its 95% interval excludes zero on the claimed side,
- **did not hold** when the interval excludes zero on the other side, or lies inside
  +-``margin`` (no difference as large as the margin, when a margin is given),
- **not decided** otherwise, and always when the groups have too few seeds to say how large the
  seeds' variation is: fewer than ``MIN_UNPAIRED`` seeds a group unpaired, fewer than
  ``MIN_PAIRS`` pairs paired. Two unpaired seeds against two give a t interval with one degree
  of freedom a side, where the spread between seeds is often the size of the effect.

Pairs are seeds that share their data draw and initialisation across the two groups (the same
``seed``, when what differs between the groups leaves the data and the init alone); their
differences cancel what the seed does to both. A lower bound (a run stopped by its budget) can
only strengthen a claim on its own side: a group whose bound could reverse the claim makes it not
decided. Plain numpy and scipy: the rule is written once and fed pure noise by the tests.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats

HELD, NOT_HELD, UNDECIDED = "held", "did not hold", "not decided"
MIN_UNPAIRED = 3  # seeds per group for an unpaired comparison
MIN_PAIRS = 2  # pairs for a paired one (t with 1 df: an honest, wide interval)
CLAIMS = ("greater", "less", "differ")


@dataclass(frozen=True)
class Comparison:
    """A decided (or not) difference ``a - b``: mean, 95% interval, how it was made, verdict."""

    diff: float  # mean of a minus mean of b (paired: mean of the paired differences)
    ci95_low: float
    ci95_high: float
    n_a: int
    n_b: int
    paired: bool
    claim: str  # "greater" (a > b), "less" (a < b) or "differ"
    verdict: str  # held / did not hold / not decided
    why: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def text(self, unit: str = "", fmt: str = "+.3f") -> str:
        """ "+0.120 [+0.050, +0.190] (paired, 3 seeds): held" and the reason when undecided."""
        how = f"paired, {self.n_a} seeds" if self.paired else f"{self.n_a} vs {self.n_b} seeds"
        ci = (
            "no interval"
            if math.isnan(self.ci95_low)
            else f"[{self.ci95_low:{fmt}}, {self.ci95_high:{fmt}}]"
        )
        tail = f" ({self.why})" if self.verdict == UNDECIDED and self.why else ""
        return f"{self.diff:{fmt}}{unit} {ci} ({how}): {self.verdict}{tail}"


def _interval(a: np.ndarray, b: np.ndarray, paired: bool) -> tuple[float, float, float]:
    """Mean difference and its 95% t interval: paired differences, or Welch's two samples."""
    if paired:
        d = a - b
        half = stats.t.ppf(0.975, d.size - 1) * d.std(ddof=1) / math.sqrt(d.size)
        return float(d.mean()), float(d.mean() - half), float(d.mean() + half)
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    diff = float(a.mean() - b.mean())
    se = math.sqrt(va + vb)
    if se == 0:
        return diff, diff, diff
    dof = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
    half = stats.t.ppf(0.975, dof) * se
    return diff, diff - half, diff + half


def compare(
    a: Any,
    b: Any,
    *,
    paired: bool = False,
    claim: str = "differ",
    margin: float = 0.0,
    a_bounds: Any = None,
    b_bounds: Any = None,
) -> Comparison:
    """Decide ``a - b`` by the rule in the module docstring.

    Args:
        a, b: per-seed values of the two groups (paired: in the same seed order, equal length).
        paired: the i-th values of a and b share their seed's data draw and init.
        claim: what is claimed: "greater" (a > b), "less" (a < b), or "differ".
        margin: with > 0, an interval inside +-margin says "did not hold" (no effect that big).
        a_bounds, b_bounds: per-seed booleans, True where the value is a lower bound.
    """
    if claim not in CLAIMS:
        raise ValueError(f"claim must be one of {CLAIMS}, got {claim!r}")
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if paired and a.size != b.size:
        raise ValueError(f"paired groups need equal sizes, got {a.size} and {b.size}")
    ab = np.zeros(a.size, bool) if a_bounds is None else np.asarray(a_bounds, dtype=bool)
    bb = np.zeros(b.size, bool) if b_bounds is None else np.asarray(b_bounds, dtype=bool)
    need = MIN_PAIRS if paired else MIN_UNPAIRED
    if min(a.size, b.size) < need:
        have = f"{a.size} pairs" if paired else f"{a.size} and {b.size} seeds unpaired"
        want = f">= {MIN_PAIRS} paired seeds" if paired else f">= {MIN_UNPAIRED} seeds a group"
        diff = float(a.mean() - b.mean()) if a.size and b.size else math.nan
        return Comparison(diff, math.nan, math.nan, a.size, b.size, paired, claim, UNDECIDED,
                          f"needs {want}{'' if paired else f' or >= {MIN_PAIRS} paired'}; "
                          f"has {have}")  # fmt: skip
    diff, lo, hi = _interval(a, b, paired)

    def out(verdict: str, why: str = "") -> Comparison:
        return Comparison(diff, lo, hi, a.size, b.size, paired, claim, verdict, why)

    # a lower bound's true value is higher: it can only push a - b up (a's) or down (b's)
    up_only, down_only = bool(ab.any()), bool(bb.any())
    above, below = lo > 0, hi < 0
    inside = margin > 0 and -margin < lo and hi < margin
    if claim == "greater":
        if above:
            return out(HELD) if not down_only else out(UNDECIDED, "b has lower-bound seeds")
        if (below or inside) and not up_only:
            return out(NOT_HELD)
    elif claim == "less":
        if below:
            return out(HELD) if not up_only else out(UNDECIDED, "a has lower-bound seeds")
        if (above or inside) and not down_only:
            return out(NOT_HELD)
    else:
        if up_only or down_only:
            return out(UNDECIDED, "lower-bound seeds")
        if above or below:
            return out(HELD)
        if inside:
            return out(NOT_HELD)
    return out(UNDECIDED, "the interval covers 0")
