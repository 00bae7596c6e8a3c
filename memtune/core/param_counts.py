"""Parameter counts in closed form: models sized without building them, and without torch.

Configs validate budgets at construction (``ThresholdConfig``) and the sweep's driver validates
every config before Ray starts; neither should pay for importing torch. A test checks each
count against ``count_params`` of the built model.
"""

from __future__ import annotations

from memtune.core.config import ModelConfig


def gpt_param_split(cfg: ModelConfig, vocab_size: int, block_size: int) -> dict[str, int]:
    """Closed form of ``param_split(build_model(...))``: embedding, position and body counts.

    Untied: a (V+1) x d input embedding (BOS has a row) and a V x d head. Tied: one V x d
    matrix (GPT-2's count; BOS reads the zero vector).
    """
    d, h = cfg.d_model, cfg.mlp_ratio * cfg.d_model
    per_layer = 2 * d + (3 * d * d + 3 * d) + (d * d + d) + 2 * d + (d * h + h) + (h * d + d)
    embedding = vocab_size * d if cfg.tie_embeddings else (2 * vocab_size + 1) * d
    position = block_size * d if cfg.pos_emb == "learned" else 0
    return {"embedding": embedding, "position": position, "body": cfg.n_layer * per_layer + 2 * d}


def gpt_param_count(cfg: ModelConfig, vocab_size: int, block_size: int) -> int:
    """Closed form of ``count_params(build_model(...))``: sizes models without building them."""
    return sum(gpt_param_split(cfg, vocab_size, block_size).values())


def seq_mlp_param_count(seq_len: int, vocab_size: int, width: int, n_layer: int) -> int:
    """Closed form of ``count_params(SeqMLP(...))``."""
    io = seq_len * vocab_size
    return io * width + width + (n_layer - 1) * (width * width + width) + width * io + io
