"""Data helpers every experiment shares: the BOS-shifted model inputs and distinct draws.

Uniform random sequences carry exactly ``seq_len * log2(vocab_size)`` bits each, so H(X) is
known without estimation: anything a model predicts better than chance about them, it stored.
Each experiment draws its own data (its folder's ``data.py``) from its own random stream.
"""

from __future__ import annotations

import numpy as np
import torch


def with_bos(data: torch.Tensor, bos_id: int) -> torch.Tensor:
    """Model inputs for next-token prediction of every token: [BOS, x_1 .. x_{T-1}], (N, T)."""
    bos = torch.full((data.size(0), 1), bos_id, dtype=data.dtype, device=data.device)
    return torch.cat([bos, data[:, :-1]], dim=1)


def distinct_sequences(
    rng: np.random.Generator, n: int, seq_len: int, vocab_size: int
) -> np.ndarray:
    """n distinct uniform sequences (n, T) in random order: draw, drop repeats, top up.

    Keeping the draw order (not np.unique's sorted order) keeps the result uniform, and the
    same generator state always gives the same sequences.
    """
    out = np.empty((0, seq_len), dtype=np.int64)
    while out.shape[0] < n:
        draw = rng.integers(0, vocab_size, size=(n - out.shape[0], seq_len), dtype=np.int64)
        both = np.concatenate([out, draw])
        _, first = np.unique(both, axis=0, return_index=True)
        out = both[np.sort(first)]  # keep the draw order, so the result is still uniform
    return out
