"""The threshold experiment's data (seed 004): random bijective mappings between sequences."""

from __future__ import annotations

import numpy as np
import torch

from memtune.core.data import distinct_sequences


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
    x = distinct_sequences(rng, n_pairs, seq_len, vocab_size)
    y = distinct_sequences(rng, n_pairs, seq_len, vocab_size)
    return torch.from_numpy(x), torch.from_numpy(y)
