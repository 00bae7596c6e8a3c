"""Edges of the "stopped improving" rule (memtune.core.progress) that mutation testing found
unpinned: the level of a window, and a trend over two evaluations one step apart."""

import pytest

from memtune.core.progress import gain_over, level

HISTORY = [(0, 100.0), (100, 110.0), (200, 120.0), (300, 150.0)]


def test_level_is_the_mean_over_the_window():
    assert level(HISTORY, 200) == pytest.approx(380 / 3)  # steps 100-300
    assert level(HISTORY, 100) == pytest.approx(135.0)  # steps 200-300
    assert level(HISTORY, 1000) == pytest.approx(120.0)  # a short run: all of it


def test_a_trend_over_two_evaluations_one_step_apart():
    # sxx = 0.5 (steps 0 and 1 about their mean 0.5): a slope of 2, a rise of 2 over |mean| 1
    assert gain_over([(0, 0.0), (1, 2.0)], 1, "trend") == (pytest.approx(2.0), True)
