"""The one rule for "stopped improving" (memtune.core.progress) at exact values: the gain over a
window by its end points and by its trend, the annealed stretch, the judging window, verdicts."""

import math

import pytest

from memtune.core.progress import (
    ANNEALED_FRAC,
    annealed_share_of_cosine,
    annealed_steps,
    annealed_stretch,
    gain_over,
    is_annealed,
    judging_window,
    stalled,
    verdict,
)

HISTORY = [(0, 100.0), (100, 110.0), (200, 120.0), (300, 150.0)]


def test_annealed_is_the_last_30_percent_of_the_way_to_the_floor():
    assert ANNEALED_FRAC == 0.3
    # floor 5%: annealed at or below 0.05 + 0.3 x 0.95 = 0.335 of the peak
    assert is_annealed(0.3349, 0.05) and not is_annealed(0.3351, 0.05)
    assert is_annealed(0.3, 0.0) and not is_annealed(0.31, 0.0)
    assert is_annealed(0.05, 0.05) and not is_annealed(1.0, 0.05)
    # a cosine from the peak to its floor is at or below 30% of the way over its last
    # 1 - acos(-0.4) / pi = 36.9% (the lr fraction (1 + cos(pi t)) / 2 <= 0.3 from t = 0.631)
    assert annealed_share_of_cosine() == pytest.approx(1 - math.acos(-0.4) / math.pi)
    assert annealed_share_of_cosine() == pytest.approx(0.36901, abs=1e-5)
    # the hold plus the decay's annealed end: 16,000 + int(8,000 x 0.36901)
    assert annealed_steps(16_000, 8_000) == 18_952
    assert annealed_steps(0, 1_000) == 369 and annealed_steps(500, 0) == 500


def test_gain_over_the_end_points():
    # now 150 against the last evaluation at least 200 steps ago (step 100: 110)
    assert gain_over(HISTORY, 200) == (pytest.approx(40 / 110), True)
    # 201 or 300 steps back: step 0 (100) is the last evaluation that old
    assert gain_over(HISTORY, 201) == (pytest.approx(0.5), True)
    assert gain_over(HISTORY, 300) == (pytest.approx(0.5), True)
    # no evaluation old enough: measured from the first, and not full
    assert gain_over(HISTORY, 301) == (pytest.approx(0.5), False)
    # relative to |ref|, at least 1 (a value near 0 must not blow the ratio up)
    assert gain_over([(0, 0.5), (100, 2.0)], 100)[0] == pytest.approx(1.5)
    assert gain_over([(0, -4.0), (100, -2.0)], 100)[0] == pytest.approx(0.5)
    assert gain_over([(0, 4.0), (100, 2.0)], 100)[0] == pytest.approx(-0.5)


def test_gain_over_the_trend():
    # the least-squares line through steps 100-300 (110, 120, 150): slope 0.2 per step, a
    # rise of 40 over the window, over the window's mean 380 / 3
    assert gain_over(HISTORY, 200, "trend") == (pytest.approx(40 / (380 / 3)), True)
    # the whole run: slope 0.16, 48 over 300 steps, mean 120
    assert gain_over(HISTORY, 300, "trend") == (pytest.approx(48 / 120), True)
    assert gain_over(HISTORY, 1000, "trend") == (pytest.approx(0.4), False)
    # a single point (or one step) has no slope
    assert gain_over([(0, 5.0)], 0, "trend") == (0.0, True)
    assert gain_over([(0, -0.5), (10, 0.5)], 10, "trend")[0] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="how must be 'end' or 'trend', got 'mean'"):
        gain_over(HISTORY, 200, "mean")


def test_stalled_is_a_full_window_with_at_most_tol():
    flat = [(0, 100.0), (100, 125.0)]  # gained exactly 0.25
    assert stalled(flat, 100, 0.25) and not stalled(flat, 100, 0.2499)
    assert not stalled(flat, 101, 10.0)  # not a full window
    assert stalled(HISTORY, 200, 0.32, "trend") and not stalled(HISTORY, 200, 0.31, "trend")


def test_judging_window_grows_with_the_run():
    assert judging_window(12_000, 1_000, 0.25) == 3_000
    assert judging_window(3_000, 1_000, 0.25) == 1_000
    assert judging_window(1_001, 10, 0.5) == 501  # rounded up
    assert judging_window(5_000, 200, 0.0) == 200


def test_annealed_stretch_needs_a_full_window_all_annealed():
    rows = [(0, 1.0, False), (100, 1.0, True), (200, 1.0, True), (300, 1.0, True)]
    assert annealed_stretch(rows, 200)  # steps 100-300, the first included, annealed
    assert not annealed_stretch(rows, 300)  # its first evaluation (step 0) at the peak
    assert not annealed_stretch(rows, 301)  # no evaluation 301 steps back
    assert not annealed_stretch([(0, 1.0, True), (100, 1.0, True)], 200)  # all annealed, short
    late = [(0, 1.0, True), (100, 1.0, False), (200, 1.0, True), (300, 1.0, True)]
    assert not annealed_stretch(late, 200) and annealed_stretch(late, 100)
    gap = [(0, 1.0, True), (100, 1.0, True), (150, 1.0, False), (300, 1.0, True)]
    assert not annealed_stretch(gap, 200)  # one evaluation inside the window was not
    assert annealed_stretch([(0, 1.0, True, 5.0), (10, 1.0, True, 6.0)], 10)


def test_verdicts():
    assert verdict("memorized", False) == "memorized"
    assert verdict("memorized", True) == "memorized"  # the data ran out first
    assert verdict("saturated", True) == "saturated"
    assert verdict("max_steps", True) == "saturated"
    assert verdict("max_steps", False) == "budget" and verdict("patience", False) == "budget"
    assert verdict("", False) == "" and verdict("", True) == "saturated"
