"""The capacity experiment's data (seed 002): uniform random sequences, known H(X)."""

from __future__ import annotations

import numpy as np
import torch

from memtune.experiments.capacity.config import DataConfig


def make_random_sequences(cfg: DataConfig, seed: int) -> torch.Tensor:
    """Draw ``n_seqs`` uniform sequences, (N, T) int64.

    The generator is keyed by (seed, n_seqs), so each dataset size gets an independent draw, as
    the seed's protocol asks ("independent datasets for each measurement").
    """
    rng = np.random.default_rng([seed, cfg.n_seqs, cfg.seq_len, cfg.vocab_size])
    data = rng.integers(0, cfg.vocab_size, size=(cfg.n_seqs, cfg.seq_len), dtype=np.int64)
    return torch.from_numpy(data)
