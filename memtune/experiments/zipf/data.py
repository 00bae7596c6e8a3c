"""The Zipf experiment's data (seed 001): K distinct random binary sequences, the Zipf sampler,
and the Bayes-optimal reference of the mixture. No Ray.

Two reference numbers per sequence come from the data alone (``bayes_reference``): the loss and
accuracy of the Bayes-optimal predictor of the Zipf mixture, which knows all K sequences and
their frequencies. Its loss is the floor no model can beat on average, -log2(p_r) / T bits per
token for sequence r; and its accuracy is below 1 for a rare sequence whose prefix is shared with
more frequent ones, whose next bits it then predicts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from memtune.core.data import distinct_sequences
from memtune.core.metrics import LN2
from memtune.experiments.zipf.config import ZipfDataConfig

VOCAB = 2  # binary sequences
SAMPLER_CHUNK = 256  # steps whose batches are drawn in one multinomial call


def zipf_probs(n_seqs: int, alpha: float) -> np.ndarray:
    """p_r = r^-alpha / sum_{s=1..K} s^-alpha for ranks r = 1..K, as a (K,) float64 array."""
    w = np.arange(1, n_seqs + 1, dtype=np.float64) ** -float(alpha)
    return w / w.sum()


def make_zipf_sequences(cfg: ZipfDataConfig, seed: int) -> torch.Tensor:
    """K distinct uniform random binary sequences, (K, T) int64; row r-1 has rank r.

    Distinct, so that each rank is one sequence and its presentations are its own. The generator
    is keyed by (seed, K, T), so the same trial seed gives the same sequences whatever alpha is:
    arms that differ only in alpha train on the same sequences.
    """
    rng = np.random.default_rng([seed, cfg.n_seqs, cfg.seq_len, 1])  # 1: seed 001's stream
    return torch.from_numpy(distinct_sequences(rng, cfg.n_seqs, cfg.seq_len, VOCAB))


class ZipfSampler:
    """Batch indices drawn with replacement from p, a pure function of (seed, step).

    Batches are drawn ``SAMPLER_CHUNK`` steps at a time by ``torch.multinomial`` on the device
    from a generator seeded by (seed, chunk), so there is no per-step host round trip, and a run
    resumed at any step draws exactly what the uninterrupted run would have drawn.
    """

    def __init__(self, probs: np.ndarray, batch_size: int, seed: int, device: str = "cpu") -> None:
        self.probs = torch.as_tensor(probs, dtype=torch.float64, device=device)
        self.batch_size, self.seed = batch_size, seed
        self.gen = torch.Generator(device=device)
        self._chunk, self._draws = -1, torch.empty(0, dtype=torch.long)

    def __call__(self, step: int) -> torch.Tensor:
        """The (B,) int64 indices (rank - 1) of the batch of training step ``step``."""
        chunk, i = divmod(step, SAMPLER_CHUNK)
        if chunk != self._chunk:
            self.gen.manual_seed(self.seed * 1_000_003 + chunk)
            n = SAMPLER_CHUNK * self.batch_size
            draws = torch.multinomial(self.probs, n, replacement=True, generator=self.gen)
            self._chunk, self._draws = chunk, draws.view(SAMPLER_CHUNK, self.batch_size)
        return self._draws[i]


def bayes_reference(data: torch.Tensor | np.ndarray, probs: np.ndarray) -> pd.DataFrame:
    """Loss and accuracy of the Bayes-optimal predictor of the Zipf mixture, per sequence.

    At position t the predictor gives P(x_t = 1 | x_<t) = sum of p_s over the sequences s that
    share the prefix x_<t and have a 1 at t, over the sum of p_s of those sharing the prefix.
    Summed over t the code length of sequence r telescopes to -log2 p_r: the floor of any model
    trained on these draws. Its argmax prediction can be wrong for a rare sequence whose prefix
    is shared with a more frequent one, so its accuracy can be < 1 (ties count as wrong).

    Args:
        data: (K, T) binary sequences, row r-1 of rank r.
        probs: (K,) sampling probabilities.
    Returns:
        a frame with columns rank, p, floor_bits (per token) and bayes_accuracy, one row each.
    """
    x = np.asarray(data.cpu() if isinstance(data, torch.Tensor) else data, dtype=np.int64)
    K, T = x.shape
    group = np.zeros(K, dtype=np.int64)  # id of each sequence's prefix x_<t among the K
    nats = np.zeros(K)
    correct = np.zeros(K)
    for t in range(T):
        n_groups = int(group.max()) + 1
        mass = np.bincount(group, weights=probs, minlength=n_groups)
        ones = np.bincount(group, weights=probs * x[:, t], minlength=n_groups)
        p1 = ones[group] / mass[group]
        p_own = np.where(x[:, t] == 1, p1, 1.0 - p1)
        nats -= np.log(p_own)
        correct += p_own > 0.5
        _, group = np.unique(group * 2 + x[:, t], return_inverse=True)
    return pd.DataFrame(
        {
            "rank": np.arange(1, K + 1),
            "p": probs,
            "floor_bits": nats / LN2 / T,
            "bayes_accuracy": correct / T,
        }
    )
