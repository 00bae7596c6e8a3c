"""The Zipf experiment's models (seed 001): the core GPT, or the seed's phenomenological model.

The phenomenological model (``PhenoModel``) is the seed's: the representation at position n is a
linear read-out of the +-1 prefix bits, v_n = sum_{i<=n} A^(n)_i xi_i, and P(next bit = 1) =
sigmoid(v_n . B), trained with binary cross-entropy.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from memtune.core.models import build_model
from memtune.experiments.zipf.config import ArchConfig
from memtune.experiments.zipf.data import VOCAB


class PhenoModel(nn.Module):
    """The seed's phenomenological model: a linear read-out of the prefix, then a sigmoid.

    Input ids (B, T) are [BOS, x_1 .. x_{T-1}] as for the GPT; each becomes xi = +1 (bit 1 or
    BOS) or -1 (bit 0), so the BOS term acts as a bias. The representation for predicting bit n
    is v_n = sum_{i<=n} A^(n)_i xi_i with A^(n)_i in R^d (d = ``d_feature``), and
    P(x_n = 1) = sigmoid(v_n . B). The forward returns the logits (0, v_n . B) over {0, 1}, so
    that cross-entropy on them is exactly the binary cross-entropy of sigmoid(v_n . B), and the
    loop, the optimizer step and the evaluation are shared with the GPT.
    """

    def __init__(self, seq_len: int, d_feature: int, bos_id: int = VOCAB) -> None:
        super().__init__()
        self.bos_id = bos_id
        self.A = nn.Parameter(torch.randn(seq_len, seq_len, d_feature) * 0.02)  # (n, i, d)
        self.B = nn.Parameter(torch.randn(d_feature) / d_feature**0.5)
        self.register_buffer("causal", torch.tril(torch.ones(seq_len, seq_len)), persistent=False)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        """Map input ids (B, T) to logits (B, T, 2)."""
        T = idx.size(1)
        xi = torch.where(idx == 0, -1.0, 1.0)  # (B, T): bits to -1/+1, BOS to +1
        A = self.A[:T, :T] * self.causal[:T, :T, None]  # (T, T, d), A^(n)_i = 0 for i > n
        v = torch.einsum("nid,bi->bnd", A, xi)  # (B, T, d)
        z = v @ self.B  # (B, T)
        return torch.stack([torch.zeros_like(z), z], dim=-1)


def build_zipf_model(arch: ArchConfig, seq_len: int) -> nn.Module:
    """The GPT of ``arch.model`` or the phenomenological model, both with a BOS input id."""
    if arch.kind == "pheno":
        return PhenoModel(seq_len, arch.d_feature)
    return build_model(arch.model, vocab_size=VOCAB, block_size=seq_len)


def pheno_param_count(seq_len: int, d_feature: int) -> int:
    """Parameters of ``PhenoModel`` that reach its output: A^(n)_i for i <= n, and B.

    ``count_params`` would count the whole (T, T, d) tensor A, half of which the causal mask
    zeroes; this is the count the model is compared by.
    """
    return seq_len * (seq_len + 1) // 2 * d_feature + d_feature
