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
