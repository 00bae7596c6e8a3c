"""Parameter counts in closed form: models sized without building them, and without torch.

Configs validate budgets at construction (``ThresholdConfig``) and the sweep's driver validates
every config before Ray starts; neither should pay for importing torch. A test checks each
count against ``count_params`` of the built model.
"""

from __future__ import annotations

from memtune.core.config import ModelConfig


def gpt_param_count(cfg: ModelConfig, vocab_size: int, block_size: int) -> int:
    """Closed form of ``count_params(build_model(...))``: sizes models without building them."""
    d, h = cfg.d_model, cfg.mlp_ratio * cfg.d_model
    per_layer = 2 * d + (3 * d * d + 3 * d) + (d * d + d) + 2 * d + (d * h + h) + (h * d + d)
    emb = (vocab_size + 1) * d + (block_size * d if cfg.pos_emb == "learned" else 0)
    return emb + cfg.n_layer * per_layer + 2 * d + d * vocab_size


def seq_mlp_param_count(seq_len: int, vocab_size: int, width: int, n_layer: int) -> int:
    """Closed form of ``count_params(SeqMLP(...))``."""
    io = seq_len * vocab_size
    return io * width + width + (n_layer - 1) * (width * width + width) + width * io + io
