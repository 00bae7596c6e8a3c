"""Configuration of one memorization-threshold probe (seed 004) as frozen dataclasses.

A probe trains one model of a fixed parameter budget on N random bijective mappings and says
whether it learned all of them. The ``ThresholdSearcher`` varies ``data.n_pairs`` within a group
(architecture x budget x depth or heads x seed); everything else here is fixed per group. Only
plain dicts cross into Ray: ``ThresholdConfig.from_dict(config)`` rebuilds the config in a trial.
Every value is checked here, before Ray starts, with a message naming the field.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from memtune.core.config import (
    ConfigBase,
    ConfigError,
    ModelConfig,
    OptimConfig,
    check,
    check_seed,
    positive_int,
)
from memtune.core.param_counts import gpt_param_count, seq_mlp_param_count

ARCHS = ("mlp", "transformer")


@dataclass(frozen=True)
class BudgetModelConfig:
    """A model sized to a parameter budget: the width is solved for, everything else is given."""

    name: str = ""  # label for tables and trial names; "" means the derived ``label``
    arch: str = "mlp"  # "mlp" (one-hot sequence in, sequence out) or "transformer" (GPT decoder)
    budget: int = 10_000  # parameters; the width is the largest whose count stays within it
    n_layer: int = 1  # hidden layers of the MLP, or blocks of the transformer
    n_head: int = 1  # attention heads (transformer only; keep 1 for the MLP)
    mlp_ratio: int = 4  # transformer feed-forward width as a multiple of d_model (GPT-2's 4)

    def __post_init__(self) -> None:
        check(
            self.arch in ARCHS,
            f"model.arch must be one of {', '.join(ARCHS)}, got {self.arch!r}",
        )
        positive_int("model.budget", self.budget)
        positive_int("model.n_layer", self.n_layer)
        positive_int("model.n_head", self.n_head)
        positive_int("model.mlp_ratio", self.mlp_ratio)
        check(
            self.arch == "transformer" or self.n_head == 1,
            f"model.n_head applies to transformers only; use 1 for arch 'mlp', got {self.n_head}",
        )

    @property
    def label(self) -> str:
        """Short name for tables and trial folders, e.g. mlp-10k-L1 or transformer-64k-L1-H32."""
        if self.name:
            return self.name
        k = f"{self.budget / 1000:g}k"
        heads = f"-H{self.n_head}" if self.arch == "transformer" else ""
        return f"{self.arch}-{k}-L{self.n_layer}{heads}"


@dataclass(frozen=True)
class MappingConfig:
    """N random bijective mappings between sequences of seq_len tokens over vocab_size symbols."""

    n_pairs: int = 64  # N, the dataset size the threshold search varies
    seq_len: int = 10  # tokens per input and per output sequence (the seed's 10)
    vocab_size: int = 10  # symbols per token (the seed's 10)

    def __post_init__(self) -> None:
        positive_int("data.n_pairs", self.n_pairs)
        positive_int("data.seq_len", self.seq_len)
        check(
            isinstance(self.vocab_size, int) and self.vocab_size >= 2,
            f"data.vocab_size must be an integer >= 2, got {self.vocab_size!r}",
        )
        check(
            self.n_pairs <= self.vocab_size**self.seq_len,
            f"data.n_pairs ({self.n_pairs}) must be <= vocab_size**seq_len "
            f"({self.vocab_size}**{self.seq_len}): inputs and outputs must be distinct",
        )


# Full batch up to 256 pairs, minibatches above. lr 1e-2: measured, 3e-3 memorized 384 and 512
# pairs (MLP 10K) and 1536 (MLP 30K) in none of 1000 epochs, 1e-2 in 250-450.
THRESHOLD_OPTIM = OptimConfig(lr=1e-2, batch_size=256, warmup_steps=50, weight_decay=0.0)


@dataclass(frozen=True)
class ThresholdConfig(ConfigBase):
    """One probe: model at a budget, N mappings, optimizer, stopping rule and seed."""

    # Names the stopping rule (e.g. "seed", "patient") so that one experiment can hold the same
    # models under two rules: the analysis keeps every protocol's searches apart.
    protocol: str = ""
    model: BudgetModelConfig = field(default_factory=BudgetModelConfig)
    data: MappingConfig = field(default_factory=MappingConfig)
    optim: OptimConfig = THRESHOLD_OPTIM  # no weight decay: it fights exact memorization
    seed: int = 0  # draws the mappings and the initialisation
    max_epochs: int = 2000  # hard stop; the lr schedule spans this many epochs
    eval_every: int = 10  # epochs between exact accuracy checks (the only host syncs)
    patience: int = 300  # epochs without progress (accuracy or loss) before "plateau"
    min_improvement: float = 0.01  # relative loss drop that counts as progress

    def __post_init__(self) -> None:
        check(isinstance(self.protocol, str), f"protocol must be a string, got {self.protocol!r}")
        check_seed(self.seed)
        positive_int("max_epochs", self.max_epochs)
        positive_int("eval_every", self.eval_every)
        positive_int("patience", self.patience)
        check(
            self.min_improvement >= 0, f"min_improvement must be >= 0, got {self.min_improvement}"
        )
        width_for_budget(self.model, self.data.seq_len, self.data.vocab_size)  # fits at all?


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
