"""Exact values of the memorization metrics on hand-built cases."""

import math

import numpy as np
import pytest
import torch

from memtune.core.metrics import (
    code_length_bits,
    data_entropy_bits,
    memorization_summary,
    sequence_floor_bits,
)

BIG = 60.0  # a logit gap that makes p = 1 up to float error


def one_hot_logits(targets: torch.Tensor, V: int = 2) -> torch.Tensor:
    return torch.nn.functional.one_hot(targets, V).float() * BIG


def test_uniform_model_costs_one_bit_per_binary_token_not_one_nat():
    targets = torch.randint(0, 2, (5, 64))
    bits = code_length_bits(torch.zeros(5, 64, 2), targets)
    torch.testing.assert_close(bits, torch.full((5,), 64.0, dtype=torch.float64))


def test_every_token_counts_including_the_first():
    targets = torch.zeros(1, 8, dtype=torch.long)
    logits = one_hot_logits(targets)
    logits[0, 0] = 0.0  # uniform on the first token only
    assert code_length_bits(logits, targets).item() == pytest.approx(1.0, abs=1e-6)


def test_perfect_prediction_costs_nothing():
    targets = torch.randint(0, 2, (3, 16))
    assert code_length_bits(one_hot_logits(targets), targets).abs().max().item() < 1e-6


def test_entropy_of_uniform_data():
    assert data_entropy_bits(10, 64, 2) == 640
    assert data_entropy_bits(3, 10, 10) == pytest.approx(30 * math.log2(10))


def test_floor_is_log2_n_for_distinct_and_log2_n_over_c_for_duplicates():
    distinct = torch.tensor([[0, 0], [0, 1], [1, 0], [1, 1]])
    np.testing.assert_allclose(sequence_floor_bits(distinct), [2, 2, 2, 2])
    dup = torch.tensor([[0, 0], [0, 0], [0, 1], [1, 1]])
    np.testing.assert_allclose(sequence_floor_bits(dup), [1, 1, 2, 2])


def trie_memorizer_logits(data: torch.Tensor) -> torch.Tensor:
    """The best autoregressive model of a data set: p(x_t | prefix) = c(prefix, x_t) / c(prefix)."""
    N, T = data.shape
    rows = [tuple(r) for r in data.tolist()]
    logits = torch.full((N, T, 2), -1e9)
    for i, r in enumerate(rows):
        for t in range(T):
            match = [s for s in rows if s[:t] == r[:t]]
            for v in (0, 1):
                c = sum(1 for s in match if s[t] == v)
                if c:
                    logits[i, t, v] = math.log(c / len(match))
    return logits


def test_a_perfect_memorizer_reaches_the_floor_exactly():
    g = torch.Generator().manual_seed(0)
    data = torch.randint(0, 2, (12, 10), generator=g)
    data[5] = data[2]  # a duplicate
    code = code_length_bits(trie_memorizer_logits(data), data).numpy()
    floor = sequence_floor_bits(data)
    np.testing.assert_allclose(code, floor, atol=1e-4)
    s = memorization_summary(code, floor, seq_len=10, vocab_size=2, slack_bits=1.0)
    assert s["efficiency"] == pytest.approx(1.0, abs=1e-5)
    assert s["bits_achievable"] == pytest.approx(120 - floor.sum())
    assert s["excess_bits_per_token"] == pytest.approx(0.0, abs=1e-5)
    assert s["seqs_memorized"] == 12


def test_summary_of_a_chance_model_memorizes_nothing():
    N, T = 64, 64
    code = np.full(N, float(T))  # uniform model: 1 bit per token
    floor = np.full(N, math.log2(N))
    s = memorization_summary(code, floor, T, 2, slack_bits=1.0)
    assert s["bits_memorized"] == 0
    assert s["bits_achievable"] == N * (T - 6)  # the 3.7K bits of 64 sequences
    assert s["efficiency"] == 0
    assert s["seqs_memorized"] == 0
    assert s["loss_bits_per_token"] == 1.0
    assert s["excess_bits_per_token"] == pytest.approx((T - 6) / T)


def test_memorized_count_uses_the_slack_over_the_floor():
    floor = np.full(4, 2.0)
    code = np.array([2.0, 2.9, 3.1, 40.0])
    s = memorization_summary(code, floor, seq_len=8, vocab_size=2, slack_bits=1.0)
    assert s["seqs_memorized"] == 2
    assert s["frac_seqs_memorized"] == 0.5
