"""The comparison rule: decided against the seeds' variation, and never on two unpaired seeds."""

import numpy as np
import pytest
from scipy import stats

from analysis.common.compare import HELD, NOT_HELD, UNDECIDED, compare


def test_two_unpaired_seeds_decide_nothing_however_large_the_gap():
    c = compare([2.99, 3.00], [2.81, 2.83], claim="greater")
    assert c.verdict == UNDECIDED and "has 2 and 2 seeds unpaired" in c.why
    assert c.diff == pytest.approx(0.175)
    assert c.why == "needs >= 3 seeds a group or >= 2 paired; has 2 and 2 seeds unpaired"


def test_one_pair_says_what_a_paired_comparison_needs():
    c = compare([2.99], [2.81], claim="greater", paired=True)
    assert c.verdict == UNDECIDED and c.why == "needs >= 2 paired seeds; has 1 pairs"


def test_pure_noise_is_held_at_the_intervals_rate_and_no_more():
    rng = np.random.default_rng(0)
    held = {"differ": 0, "greater": 0}
    n = 2000
    for _ in range(n):
        a, b = rng.normal(2.0, 0.1, 3), rng.normal(2.0, 0.1, 3)
        for claim in held:
            held[claim] += compare(a, b, claim=claim).verdict == HELD
    assert held["differ"] / n == pytest.approx(0.05, abs=0.02)
    assert held["greater"] / n == pytest.approx(0.025, abs=0.015)


def test_unpaired_interval_is_welchs():
    a, b = [2.1, 2.3, 2.2, 2.5], [1.9, 2.0, 2.05]
    c = compare(a, b)
    ci = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert (c.ci95_low, c.ci95_high) == pytest.approx((ci.low, ci.high))
    assert c.verdict == HELD and not c.paired


def test_paired_seeds_cancel_what_the_seed_does_to_both():
    # seeds differ by 0.3 between each other, the settings by 0.02 within a seed
    a, b = [2.17, 1.97, 1.89], [2.15, 1.95, 1.87]
    unpaired = compare(a, b, claim="greater")
    paired = compare(a, b, paired=True, claim="greater")
    assert unpaired.verdict == UNDECIDED
    assert paired.verdict == HELD and paired.ci95_low == pytest.approx(0.02)
    ci = stats.ttest_rel([2.17, 1.97, 1.90], b).confidence_interval(0.95)
    c = compare([2.17, 1.97, 1.90], b, paired=True)
    assert (c.ci95_low, c.ci95_high) == pytest.approx((ci.low, ci.high))
    assert compare(b, a, paired=True, claim="greater").verdict == NOT_HELD


def test_a_margin_lets_no_difference_be_said():
    a, b = [2.00, 2.01, 1.99, 2.00], [2.00, 2.00, 2.01, 1.99]
    assert compare(a, b, paired=True).verdict == UNDECIDED
    assert compare(a, b, paired=True, margin=0.05).verdict == NOT_HELD


def test_lower_bounds_only_strengthen_their_own_side():
    a, b = [2.5, 2.6, 2.55], [2.0, 2.1, 2.05]
    assert compare(a, b, claim="greater", a_bounds=[0, 1, 0]).verdict == HELD
    c = compare(a, b, claim="greater", b_bounds=[0, 1, 0])
    assert c.verdict == UNDECIDED and "b has lower-bound" in c.why
    # a's bound could still be higher: "a < b did not hold" needs no bound on a
    assert compare(a, b, claim="less").verdict == NOT_HELD
    assert compare(b, a, claim="greater", a_bounds=[1, 0, 0]).verdict == UNDECIDED


def test_the_text_says_how_it_was_decided():
    c = compare([2.17, 1.97, 1.89], [2.15, 1.95, 1.87], paired=True, claim="greater")
    assert c.text().startswith("+0.020 [+0.020, +0.020] (paired, 3 seeds): held")
    assert "not decided (needs" in compare([1, 2], [3, 4]).text()
