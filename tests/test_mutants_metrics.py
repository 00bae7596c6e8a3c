"""Edges of the memorization metrics (memtune.core.metrics) that mutation testing found unpinned:
exact float64 sums from float32 inputs, the slack's edge, a data set with nothing to memorize."""

import math

import numpy as np
import pytest
import torch

from memtune.core.metrics import EVAL_CHUNK, memorization_summary, sequence_code_lengths


def test_sums_are_float64_even_from_float32_code_lengths():
    # float32 has 24 bits of mantissa: 2^24 + 1 rounds to 2^24, so a float32 sum loses the 1
    big = float(2**24)
    code = np.array([big, 1.0], dtype=np.float32)
    floor = np.array([0.0, 1.0], dtype=np.float32)
    s = memorization_summary(code, floor, seq_len=25, vocab_size=2, slack_bits=0.5)
    assert s["bits_total"] == 50.0
    assert s["bits_memorized"] == 50.0 - (big + 1.0)
    floor32 = np.array([big, 1.0], dtype=np.float32)
    s = memorization_summary(np.zeros(2), floor32, seq_len=25, vocab_size=2, slack_bits=0.5)
    assert s["bits_achievable"] == 50.0 - (big + 1.0)


def test_a_sequence_exactly_slack_bits_over_its_floor_counts_as_memorized():
    s = memorization_summary(
        np.array([3.0, 3.5]), np.array([2.0, 2.0]), seq_len=4, vocab_size=2, slack_bits=1.0
    )
    assert s["seqs_memorized"] == 1 and s["frac_seqs_memorized"] == 0.5


def test_efficiency_is_nan_when_the_floor_leaves_nothing_to_memorize():
    # two distinct sequences of one binary token: H(X) = 2 bits, the floor log2(2) = 1 bit each
    s = memorization_summary(
        np.array([1.0, 1.0]), np.array([1.0, 1.0]), seq_len=1, vocab_size=2, slack_bits=0.0
    )
    assert s["bits_total"] == 2.0 and s["bits_achievable"] == 0.0
    assert math.isnan(s["efficiency"])
    assert s["bits_memorized"] == pytest.approx(0.0)


class _Uniform(torch.nn.Module):
    """A model that gives every token of V = 2 probability 1/2: 1 bit per token."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros(*x.shape, 2)  # (B, T, V)


def test_code_lengths_of_more_sequences_than_one_chunk():
    # chunks run over the sequences (dim 0), not the positions: N > EVAL_CHUNK, T = 2
    n = EVAL_CHUNK + 3
    x = torch.zeros(n, 2, dtype=torch.long)
    bits = sequence_code_lengths(_Uniform(), x, x)
    assert bits.shape == (n,) and bits.dtype == torch.float64
    assert bits.sum().item() == pytest.approx(2.0 * n)
