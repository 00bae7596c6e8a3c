"""Edges of the generalization figures (memtune.experiments.generalization.metrics) that mutation
testing found unpinned: sums in float64 whatever the dtype of the stored code lengths."""

import math

import numpy as np

from memtune.experiments.generalization.metrics import generalization_summary


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
