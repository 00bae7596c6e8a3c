"""Edges of the generalization figures (memtune.experiments.generalization.metrics) that mutation
testing found unpinned: sums in float64 whatever the dtype of the stored code lengths."""

import math
import warnings

import numpy as np
import pytest

from memtune.experiments.generalization.metrics import auroc, f1_at_median, generalization_summary


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
