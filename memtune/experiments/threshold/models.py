"""The threshold study's models (seed 004), each sized to a parameter budget.

``SeqMLP`` maps a one-hot input sequence to output logits in one pass; ``DecoderMapper`` is the
core GPT reading the input then the teacher-forced output. ``build_budget_model`` picks the
widest of either within ``BudgetModelConfig.budget`` (``width_for_budget``, closed form).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from memtune.core.config import ModelConfig
from memtune.core.models import GPT
from memtune.experiments.threshold.config import (
    BudgetModelConfig,
    budget_model_config,
    width_for_budget,
)


class SeqMLP(nn.Module):
    """Sequence-to-sequence MLP for the threshold study (seed 004): the one-hot input sequence,
    (T * V) wide, goes through ``n_layer`` ReLU layers of ``width`` units to T * V output logits.
    """

    def __init__(self, seq_len: int, vocab_size: int, width: int, n_layer: int) -> None:
        super().__init__()
        self.seq_len, self.vocab_size = seq_len, vocab_size
        dims = [seq_len * vocab_size] + [width] * n_layer
        self.hidden = nn.ModuleList(
            nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:], strict=True)
        )
        self.out = nn.Linear(width, seq_len * vocab_size)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Map inputs x (B, T) to output logits (B, T, V); y is unused (no teacher forcing)."""
        h = F.one_hot(x, self.vocab_size).flatten(1).float()  # (B, T*V)
        for layer in self.hidden:
            h = F.relu(layer(h))
        return self.out(h).view(x.size(0), self.seq_len, self.vocab_size)


class DecoderMapper(nn.Module):
    """A GPT that reads x then the teacher-forced y, [x_1..x_T, y_1..y_{T-1}], and predicts y.

    The logits at positions T-1 .. 2T-2 predict y_1 .. y_T, so 100% teacher-forced token accuracy
    is the same as greedy decoding reproducing every output. The GPT's BOS embedding row is not
    used here (its d_model parameters are still counted).
    """

    def __init__(self, cfg: ModelConfig, seq_len: int, vocab_size: int) -> None:
        super().__init__()
        self.gpt = GPT(cfg, vocab_size=vocab_size, block_size=2 * seq_len - 1)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Map inputs x (B, T) and targets y (B, T) to logits for y, (B, T, V)."""
        T = x.size(1)
        return self.gpt(torch.cat([x, y[:, :-1]], dim=1))[:, T - 1 :]


def build_budget_model(cfg: BudgetModelConfig, seq_len: int, vocab_size: int) -> nn.Module:
    """The MLP or decoder of ``cfg`` at the widest size within its budget."""
    width = width_for_budget(cfg, seq_len, vocab_size)
    if cfg.arch == "mlp":
        return SeqMLP(seq_len, vocab_size, width, cfg.n_layer)
    return DecoderMapper(budget_model_config(cfg, width), seq_len, vocab_size)
