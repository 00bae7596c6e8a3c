"""Synthetic memorization data, fully determined by its config and a seed.

Uniform random sequences carry exactly ``seq_len * log2(vocab_size)`` bits each, so H(X) is
known without estimation: anything a model predicts better than chance about them, it stored.
"""

from __future__ import annotations

import numpy as np
import torch

from memtune.config import DataConfig


def make_random_sequences(cfg: DataConfig, seed: int) -> torch.Tensor:
    """Draw ``n_seqs`` uniform sequences, (N, T) int64.

    The generator is keyed by (seed, n_seqs), so each dataset size gets an independent draw, as
    the seed's protocol asks ("independent datasets for each measurement").
    """
    rng = np.random.default_rng([seed, cfg.n_seqs, cfg.seq_len, cfg.vocab_size])
    data = rng.integers(0, cfg.vocab_size, size=(cfg.n_seqs, cfg.seq_len), dtype=np.int64)
    return torch.from_numpy(data)


def with_bos(data: torch.Tensor, bos_id: int) -> torch.Tensor:
    """Model inputs for next-token prediction of every token: [BOS, x_1 .. x_{T-1}], (N, T)."""
    bos = torch.full((data.size(0), 1), bos_id, dtype=data.dtype, device=data.device)
    return torch.cat([bos, data[:, :-1]], dim=1)


def _distinct_sequences(
    rng: np.random.Generator, n: int, seq_len: int, vocab_size: int
) -> np.ndarray:
    """n distinct uniform sequences (n, T) in random order: draw, drop repeats, top up."""
    out = np.empty((0, seq_len), dtype=np.int64)
    while out.shape[0] < n:
        draw = rng.integers(0, vocab_size, size=(n - out.shape[0], seq_len), dtype=np.int64)
        both = np.concatenate([out, draw])
        _, first = np.unique(both, axis=0, return_index=True)
        out = both[np.sort(first)]  # keep the draw order, so the result is still uniform
    return out


def make_bijective_mapping(
    n_pairs: int, seq_len: int, vocab_size: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """N random bijective mappings x_i -> y_i for the threshold study (seed 004).

    N distinct inputs and N distinct outputs, each uniform over the V^T sequences and paired at
    random, fully determined by (n_pairs, seq_len, vocab_size, seed). Like
    ``make_random_sequences``, each size N is an independent draw.

    Returns:
        x, y: (N, T) int64 each.
    """
    if n_pairs > vocab_size**seq_len:
        raise ValueError(f"only {vocab_size}**{seq_len} distinct sequences, asked for {n_pairs}")
    rng = np.random.default_rng([seed, n_pairs, seq_len, vocab_size, 4])  # 4: seed 004's stream
    x = _distinct_sequences(rng, n_pairs, seq_len, vocab_size)
    y = _distinct_sequences(rng, n_pairs, seq_len, vocab_size)
    return torch.from_numpy(x), torch.from_numpy(y)
