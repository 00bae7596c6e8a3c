"""Memorization metrics in bits: pure functions of tensors and counts.

Morris et al. (2025, "How much do language models memorize?") measure memorization of a data set
X by a model theta as H(X) - H(X | theta): the entropy of the data minus its code length under
the model. For uniform random sequences H(X) = N * T * log2(V) exactly, and H(X | theta) is the
arithmetic-coding length sum_x -log2 p_theta(x). Every one of the T tokens of a sequence is
coded, the first one too: the model predicts it from a BOS input, so at best it learns the
first-token frequencies of the data set, and H(X) counts that token like every other.

The floor. A model is a distribution over sequences, so N distinct sequences must share a total
probability of at most one: even a perfect memorizer pays -log2(c/N) bits for a sequence that
occurs c times among the N (log2 N when all are distinct). The seed's "loss < 0.01" is therefore
unreachable; the achievable maximum is H(X) minus that floor, and we report efficiency and
excess loss against it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

LN2 = math.log(2.0)


EVAL_CHUNK = 4096  # sequences per forward pass at evaluation; bounds memory for large N


def token_log_probs(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """log p(x_t | x_<t) of each actual token, in nats, computed in float32.

    Every per-token measure of memtune (code lengths, P(z), per-sequence loss, the features of
    the prediction study) is this one quantity, summed, averaged or exponentiated.

    Args:
        logits: (B, T, V) next-token logits.
        targets: (B, T) int64 tokens that were to be predicted.
    Returns:
        (B, T) float32 tensor, nats (<= 0).
    """
    logp = F.log_softmax(logits.float(), dim=-1)
    return logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)


def code_length_bits(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per-sequence code length -sum_t log2 p(x_t | x_<t).

    Args:
        logits: (B, T, V) next-token logits.
        targets: (B, T) int64 tokens that were to be predicted.
    Returns:
        (B,) float64 tensor, bits: a data set's total is a sum of up to millions of these, which
        float32 (steps of 4 bits at 3e7) would round.
    """
    return -token_log_probs(logits, targets).double().sum(dim=1) / LN2


@contextmanager
def evaluating(model: nn.Module) -> Iterator[nn.Module]:
    """The model in eval mode without gradients, back to its previous mode afterwards."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield model
    finally:
        model.train(was_training)


def sequence_code_lengths(
    model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor
) -> torch.Tensor:
    """Code length in bits of each sequence under the model, (N,), in chunks of EVAL_CHUNK."""
    with evaluating(model):
        out = [
            code_length_bits(model(inputs[i : i + EVAL_CHUNK]), targets[i : i + EVAL_CHUNK])
            for i in range(0, inputs.size(0), EVAL_CHUNK)
        ]
    return torch.cat(out)


def data_entropy_bits(n_seqs: int, seq_len: int, vocab_size: int) -> float:
    """H(X) of n_seqs uniform sequences of seq_len tokens over vocab_size symbols."""
    return n_seqs * seq_len * math.log2(vocab_size)


def sequence_floor_bits(data: torch.Tensor) -> np.ndarray:
    """The least code length any model can give each sequence of a data set, (N,) bits.

    Minimising the total code length of the multiset subject to sum p <= 1 gives p(x) = c(x)/N,
    so a sequence occurring c times among N costs -log2(c / N).
    """
    arr = data.cpu().numpy()
    _, inverse, counts = np.unique(arr, axis=0, return_inverse=True, return_counts=True)
    c = counts[inverse.reshape(-1)]
    return -np.log2(c / arr.shape[0])


def memorization_summary(
    code_bits: np.ndarray, floor_bits: np.ndarray, seq_len: int, vocab_size: int, slack_bits: float
) -> dict[str, float]:
    """All memorization metrics of one evaluation, from per-sequence code lengths.

    A sequence counts as memorized when its code length is within ``slack_bits`` of its floor:
    the model singles it out of all V^T sequences almost as sharply as a perfect memorizer of
    this data set could. This is the honest version of "loss below a threshold".

    Args:
        code_bits: (N,) code length of each sequence under the model.
        floor_bits: (N,) least achievable code length of each (``sequence_floor_bits``).
        seq_len, vocab_size: T and V of the data.
        slack_bits: tolerance over the floor for counting a sequence as memorized.
    Returns:
        dict with bits_memorized, bits_achievable, bits_total, efficiency, loss_bits_per_token,
        excess_bits_per_token, seqs_memorized and frac_seqs_memorized.
    """
    code_bits = np.asarray(code_bits, dtype=np.float64)  # exact sums: see code_length_bits
    floor_bits = np.asarray(floor_bits, dtype=np.float64)
    n = code_bits.shape[0]
    h_x = data_entropy_bits(n, seq_len, vocab_size)
    floor = float(floor_bits.sum())
    code = float(code_bits.sum())
    memorized = int((code_bits - floor_bits <= slack_bits).sum())
    return {
        "bits_memorized": h_x - code,
        "bits_achievable": h_x - floor,
        "bits_total": h_x,
        "efficiency": (h_x - code) / (h_x - floor) if h_x > floor else float("nan"),
        "loss_bits_per_token": code / (n * seq_len),
        "excess_bits_per_token": (code - floor) / (n * seq_len),
        "seqs_memorized": memorized,
        "frac_seqs_memorized": memorized / n,
    }
