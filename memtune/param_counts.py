"""Parameter counts in closed form: models sized without building them, and without torch.

Configs validate budgets at construction (``ThresholdConfig``) and the sweep's driver validates
every config before Ray starts; neither should pay for importing torch. A test checks each
count against ``count_params`` of the built model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from memtune.config import ConfigError, ModelConfig

if TYPE_CHECKING:
    from memtune.threshold_config import BudgetModelConfig


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


def budget_model_config(cfg: BudgetModelConfig, d_model: int) -> ModelConfig:
    """The GPT config of a transformer budget model of width ``d_model``."""
    return ModelConfig(
        name=cfg.label, n_layer=cfg.n_layer, d_model=d_model, n_head=cfg.n_head,
        mlp_ratio=cfg.mlp_ratio,
    )  # fmt: skip


def budget_param_count(cfg: BudgetModelConfig, width: int, seq_len: int, vocab_size: int) -> int:
    """Parameters of the budget model of the given width (d_model for transformers)."""
    if cfg.arch == "mlp":
        return seq_mlp_param_count(seq_len, vocab_size, width, cfg.n_layer)
    return gpt_param_count(budget_model_config(cfg, width), vocab_size, 2 * seq_len - 1)


def width_for_budget(cfg: BudgetModelConfig, seq_len: int, vocab_size: int) -> int:
    """The largest width whose parameter count is within ``cfg.budget``.

    Transformer widths step by ``n_head`` (d_model must divide into the heads). The count grows
    with the width, so a bisection over width steps finds it.
    """
    step = cfg.n_head if cfg.arch == "transformer" else 1

    def fits(k: int) -> bool:
        return budget_param_count(cfg, k * step, seq_len, vocab_size) <= cfg.budget

    if not fits(1):
        need = budget_param_count(cfg, step, seq_len, vocab_size)
        raise ConfigError(
            f"model.budget {cfg.budget} is too small for {cfg.label}: the narrowest such model "
            f"(width {step}) has {need} parameters"
        )
    lo, hi = 1, 2
    while fits(hi):
        lo, hi = hi, hi * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return lo * step
