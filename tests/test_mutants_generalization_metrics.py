"""Edges of the generalization figures (memtune.experiments.generalization.metrics) that mutation
testing found unpinned: sums in float64 whatever the dtype of the stored code lengths; the
bootstrap intervals of one trial, resample by resample."""

import math
import warnings

import numpy as np
import pytest

from memtune.experiments.generalization.metrics import (
    BOOT_COLUMNS,
    auroc,
    bootstrap_intervals,
    f1_at_median,
    generalization_summary,
)


def test_figures_are_float64_sums_even_from_float32_code_lengths():
    # float32 has 24 bits of mantissa: 2^24 + 1 rounds to 2^24, so a float32 sum loses the 1
    # (per-sequence records may be stored as float32: the recomputation must not round them)
    big = float(2**24)
    bits = np.array([big, 1.0], dtype=np.float32)
    floor = np.array([1.0, 1.0], dtype=np.float32)
    s = generalization_summary(bits, bits, bits, bits, seq_len=1, train_floor=floor)
    assert s["data_bits"] == big + 1.0
    assert s["memorizable_bits"] == big - 1.0
    for k in ("train_loss", "heldout_loss", "train_source", "heldout_source"):
        assert s[f"{k}_bits_per_token"] == (big + 1.0) / 2, k
    assert s["mem_u_bits"] == 0.0 and s["memorized_share"] == 0.0


def test_memorized_share_needs_something_to_memorize():
    # L_source at the floor: nothing memorizable, the share is undefined (not 0/0)
    floor = np.array([2.0, 2.0])
    s = generalization_summary(floor, floor, floor, floor, seq_len=4, train_floor=floor)
    assert s["memorizable_bits"] == 0.0 and math.isnan(s["memorized_share"])
    # under one bit memorizable is still a share: 0.25 of the 0.5 bits
    ts = np.array([2.25, 2.25])
    s = generalization_summary(ts, ts - 0.0625, ts, ts, seq_len=4, train_floor=floor)
    assert s["memorizable_bits"] == 0.5 and s["memorized_share"] == 0.25


def test_auroc_of_an_empty_side_is_nan_without_dividing_by_zero():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # 0 / 0 would warn
        assert math.isnan(auroc(np.array([]), np.array([1.0, 2.0])))
        assert math.isnan(auroc(np.array([1.0, 2.0]), np.array([])))


def test_f1_at_median_breaks_ties_non_members_first_on_many_ties():
    # 300 scores from three values: the median cut falls inside a tie, which an unstable sort
    # would break in any order
    rng = np.random.default_rng(0)
    members = rng.integers(0, 3, 150).astype(float)
    others = rng.integers(0, 3, 150).astype(float)
    scores = np.r_[members, others]
    is_member = np.r_[np.ones(150), np.zeros(150)]
    top = np.lexsort((is_member, -scores))[:150]  # by score, down; non-members first in a tie
    tp = is_member[top].sum()
    assert f1_at_median(members, others) == pytest.approx(2 * tp / (150 + 150))


def test_f1_at_median_of_one_member_and_of_none():
    assert f1_at_median(np.array([1.0]), np.array([0.0])) == 1.0  # the top half is the member
    assert math.isnan(f1_at_median(np.array([]), np.array([1.0, 2.0])))
    assert math.isnan(f1_at_median(np.array([1.0]), np.array([])))


def test_bootstrap_intervals_resample_each_set_with_replacement_at_its_own_size():
    # 3 training and 2 held-out sequences; the stream draws the training indices first
    ts, tm = np.array([10.0, 12.0, 14.0]), np.array([4.0, 13.0, 8.0])  # mem_U 6, 0, 6
    hs, hm = np.array([11.0, 13.0]), np.array([12.0, 10.0])  # mem_U 0, 3; excess 1, -3
    b = bootstrap_intervals(ts, tm, hs, hm, seq_len=4, n_boot=5, seed=7)
    rng = np.random.default_rng(7)
    ti, hi = rng.integers(0, 3, (5, 3)), rng.integers(0, 2, (5, 2))
    held_excess = np.array([1.0, -3.0])[hi].mean(axis=1) / 4
    mem_held = np.array([0.0, 3.0])[hi].sum(axis=1)
    mem_excess = np.array([6.0, 0.0, 6.0])[ti].sum(axis=1) - mem_held
    lo, up = np.percentile(held_excess, [2.5, 97.5])
    assert b["heldout_excess_ci95_half_bits_per_token"] == pytest.approx((up - lo) / 2)
    assert [b["mem_u_heldout_ci95_low_bits"], b["mem_u_heldout_ci95_high_bits"]] == (
        pytest.approx(list(np.percentile(mem_held, [2.5, 97.5])))
    )
    lo, up = np.percentile(mem_excess, [2.5, 97.5])
    assert b["mem_u_excess_ci95_half_bits"] == pytest.approx((up - lo) / 2)
    assert list(b) == list(BOOT_COLUMNS) and all(type(v) is float for v in b.values())
    # the defaults: 1000 resamples of stream 0 (on figures that take many values)
    r = np.random.default_rng(0)
    ts, tm, hs, hm = r.normal(60, 5, (4, 40))
    b = bootstrap_intervals(ts, tm, hs, hm, 4)
    assert b == bootstrap_intervals(ts, tm, hs, hm, 4, n_boot=1000, seed=0)
    assert b != bootstrap_intervals(ts, tm, hs, hm, 4, seed=1)
    assert b != bootstrap_intervals(ts, tm, hs, hm, 4, n_boot=999)
    # an empty set on either side: no interval
    for args in (([], [], hs, hm), (ts, tm, [], [])):
        out = bootstrap_intervals(*args, 4)
        assert list(out) == list(BOOT_COLUMNS) and all(math.isnan(v) for v in out.values())
