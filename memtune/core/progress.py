"""Progress over a window of steps: the one rule behind patience, the stall trigger and saturation.

Every memtune rule that asks "has this run stopped improving?" asks it the same way: did a value
gain less than ``tol`` (relative) over the last ``window`` steps (``stalled``)? The capacity loop
stops on it (patience) and its schedule starts the lr decay on it (the stall trigger), both on
the best value so far; its verdict calls a run saturated on it, on the trend of the bits
themselves at an annealed lr; ``level`` is the figure a run reports as its capacity, the mean
of the bits over the same window. One definition of the window and the gain means one meaning of
"flat" in the code, the printouts and the docs. Plain Python, no torch, no Ray.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

# An lr counts as annealed once it is within this share of the way from its floor to the peak:
# the last 37% of a cosine. Saturation is judged only where every evaluation is annealed (a flat
# stretch at a higher lr is that lr's own plateau, which a decay still lifts); 0.3 lets a plain
# cosine be judged over its last third, as the wsd schedule is over its hold.
ANNEALED_FRAC = 0.3


def is_annealed(lr_over_peak: float, floor: float) -> bool:
    """Whether an lr (as a fraction of the peak) is annealed, for a schedule ending at ``floor``."""
    return lr_over_peak <= floor + ANNEALED_FRAC * (1.0 - floor)


def annealed_share_of_cosine() -> float:
    """The share of a cosine decay (from the peak to its floor) whose lr is annealed."""
    return 1.0 - math.acos(2 * ANNEALED_FRAC - 1) / math.pi


def gain_over(
    history: Sequence[tuple[int, float]], window: int, how: str = "end"
) -> tuple[float, bool]:
    """Relative gain of a value over the last ``window`` steps.

    Args:
        history: (step, value) per evaluation, in step order, non-empty.
        window: steps to look back.
        how: "end": the value now against the last evaluation at least ``window`` steps ago
            (for a best-so-far, which only rises: patience, the stall trigger); "trend": the
            least-squares line through the evaluations of the window, its rise across the
            window over its mean (for raw values that swing from one evaluation to the next:
            at 5% of the peak lr memorized bits move +-2% between evaluations, so the end
            points, or the best of them, would judge the swing, not the level).
    Returns:
        (gain, full): ``full`` is False when no evaluation is ``window`` steps old, and the gain
        is then measured from the first evaluation.
    """
    step = history[-1][0]
    earlier = [h for h in history if h[0] <= step - window]
    ref = earlier[-1] if earlier else history[0]
    if how == "end":
        return (history[-1][1] - ref[1]) / max(abs(ref[1]), 1.0), bool(earlier)
    if how != "trend":
        raise ValueError(f"how must be 'end' or 'trend', got {how!r}")
    pts = window_points(history, window)
    n = len(pts)
    mx = sum(h[0] for h in pts) / n
    my = sum(h[1] for h in pts) / n
    sxx = sum((h[0] - mx) ** 2 for h in pts)
    slope = sum((h[0] - mx) * (h[1] - my) for h in pts) / sxx if sxx > 0 else 0.0
    return slope * (step - ref[0]) / max(abs(my), 1.0), bool(earlier)


def window_points(history: Sequence[tuple], window: int) -> list[tuple]:
    """The evaluations of the last ``window`` steps: from the last one at least ``window`` steps
    before the newest (or the first, for a shorter run) to the newest. ``gain_over``'s trend and
    ``level`` read the same points, so a verdict and the figure it judges share their window."""
    step = history[-1][0]
    earlier = [h for h in history if h[0] <= step - window]
    start = earlier[-1][0] if earlier else history[0][0]
    return [h for h in history if h[0] >= start]


def level(history: Sequence[tuple[int, float]], window: int) -> float:
    """The level of a value over the last ``window`` steps: the mean of its evaluations there.

    This is a run's capacity estimate, for a trial and for the long run it is compared with
    alike. Not the best of the evaluations: at 5% of the peak lr memorized bits swing +-2%
    between evaluations, and the maximum of ~40 such evaluations sits about two of their
    standard deviations above the level they swing around, so a maximum compared with a level
    (or with another maximum over more evaluations) measures the noise. The mean of a run whose
    trend still rises sits below its end: the analyses call such a run's figure a lower bound.
    """
    pts = window_points(history, window)
    return sum(h[1] for h in pts) / len(pts)


def stalled(
    history: Sequence[tuple[int, float]], window: int, tol: float, how: str = "end"
) -> bool:
    """Whether the value gained at most ``tol`` over a full ``window`` of steps."""
    gain, full = gain_over(history, window, how)
    return full and gain <= tol


def judging_window(step: int, window: int, fraction: float) -> int:
    """Steps over which a run at ``step`` must be flat, all at an annealed lr, to saturate: at
    least ``window``, and at least ``fraction`` of the steps so far (a window that grows with
    the run cannot be met at a level the run still leaves)."""
    return max(window, math.ceil(fraction * step))


def annealed_stretch(history: Sequence[tuple], window: int) -> bool:
    """Whether a full ``window`` of evaluations lies behind the last one and every evaluation of
    it, the first included, ran at an annealed lr (``history`` rows: (step, value, annealed,
    ...)). A flat stretch at a higher lr is that lr's own plateau, which the decay still lifts."""
    step = history[-1][0]
    earlier = [h for h in history if h[0] <= step - window]
    return bool(earlier and earlier[-1][2] and all(h[2] for h in history if h[0] >= step - window))


def annealed_steps(hold_steps: int, decay_steps: int) -> int:
    """Steps at an annealed lr before max_steps under wsd: the hold and the decay's annealed end."""
    return hold_steps + int(decay_steps * annealed_share_of_cosine())


def verdict(stop_reason: str, saturated: bool) -> str:
    """What limited a trial: "memorized" (the data), "saturated" (flat at an annealed lr: the
    model, or the optimizer when another setting or a longer run stores more; the analyses say
    which), "budget" (a step cap or patience stopped a run not judged flat), "" while running.
    Every experiment that judges saturation words its verdicts with this one function."""
    if stop_reason == "memorized":
        return "memorized"
    if saturated:
        return "saturated"
    return "budget" if stop_reason else ""
