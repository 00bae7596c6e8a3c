"""Experiment configuration as frozen dataclasses.

Only plain dicts cross into Ray: a sweep's ``param_space`` mirrors the nesting of
``TrainConfig`` and each trial rebuilds it with ``TrainConfig.from_dict``. Every field has a
default so that results written by older versions still load, and every value is checked here,
before any Ray process starts, so bad input fails with a message naming the field.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import asdict, dataclass, field, fields
from typing import Any


class ConfigError(ValueError):
    """Bad user input; the message names the field and what is allowed."""


def _check(cond: bool, msg: str) -> None:
    if not cond:
        raise ConfigError(msg)


def _positive_int(name: str, value: Any) -> None:
    _check(
        isinstance(value, int) and not isinstance(value, bool) and value >= 1,
        f"{name} must be an integer >= 1, got {value!r}",
    )


@dataclass(frozen=True)
class ModelConfig:
    """A GPT-2-style decoder. Vocabulary and context length come from the data."""

    name: str = "nano"  # label carried into tables and plots; presets are named
    n_layer: int = 2
    d_model: int = 32
    n_head: int = 2
    mlp_ratio: int = 4  # GPT-2's 4x hidden width in the MLP
    pos_emb: str = "learned"  # "learned" (GPT-2) or "rope" (rotary, used by the Zipf study)

    def __post_init__(self) -> None:
        _positive_int("model.n_layer", self.n_layer)
        _positive_int("model.d_model", self.d_model)
        _positive_int("model.n_head", self.n_head)
        _positive_int("model.mlp_ratio", self.mlp_ratio)
        _check(
            self.d_model % self.n_head == 0,
            f"model.d_model ({self.d_model}) must be divisible by model.n_head ({self.n_head})",
        )
        _check(
            self.pos_emb in POS_EMBS,
            f"model.pos_emb must be one of {sorted(POS_EMBS)}, got {self.pos_emb!r}",
        )
        if self.pos_emb == "rope":
            _check(
                (self.d_model // self.n_head) % 2 == 0,
                f"model.pos_emb='rope' needs an even head size, got "
                f"d_model/n_head = {self.d_model}/{self.n_head}",
            )

    @staticmethod
    def preset(name: str) -> ModelConfig:
        """Look up a named model size (see ``MODEL_PRESETS``)."""
        _check(
            name in MODEL_PRESETS,
            f"unknown model preset {name!r}; allowed: {', '.join(MODEL_PRESETS)}",
        )
        return MODEL_PRESETS[name]


POS_EMBS = frozenset({"learned", "rope"})


def _m(name: str, n_layer: int, d_model: int, n_head: int) -> ModelConfig:
    return ModelConfig(name=name, n_layer=n_layer, d_model=d_model, n_head=n_head)


# The seed's table (002), head size 16. Its parameter counts are wrong (2 x d32 is ~27.6K, not
# 8K); the real count is computed from the built model and reported with every result.
# The cpu-* sizes are single-layer models small enough to approach capacity on a laptop CPU.
MODEL_PRESETS: dict[str, ModelConfig] = {
    m.name: m
    for m in [
        _m("cpu-xxs", 1, 8, 1),
        _m("cpu-xs", 1, 12, 1),
        _m("cpu-s", 1, 16, 2),
        _m("cpu-m", 1, 24, 2),
        _m("cpu-l", 1, 32, 2),
        _m("nano", 2, 32, 2),
        _m("micro", 4, 64, 4),
        _m("mini", 6, 128, 8),
        _m("small", 8, 256, 16),
        _m("base", 12, 512, 32),
        _m("large", 16, 768, 48),
    ]
}


@dataclass(frozen=True)
class DataConfig:
    """Uniform random sequences, fully determined by (n_seqs, seq_len, vocab_size, seed)."""

    n_seqs: int = 64  # dataset size N
    seq_len: int = 64  # tokens per sequence T (the seed's 64)
    vocab_size: int = 2  # V; binary as in Morris et al.

    def __post_init__(self) -> None:
        _positive_int("data.n_seqs", self.n_seqs)
        _positive_int("data.seq_len", self.seq_len)
        _check(
            isinstance(self.vocab_size, int) and self.vocab_size >= 2,
            f"data.vocab_size must be an integer >= 2, got {self.vocab_size!r}",
        )


@dataclass(frozen=True)
class OptimConfig:
    """AdamW with linear warmup and cosine decay with hard restarts (the seed's schedule)."""

    lr: float | None = None  # peak lr; None uses lr_scale / d_model
    lr_scale: float = 0.3  # measured here: ~0.3/d_model was best for 1-layer d_model 8..24
    weight_decay: float = 0.01
    beta1: float = 0.9
    beta2: float = 0.99
    grad_clip: float = 1.0
    batch_size: int = 32  # sequences per step, capped at n_seqs (the seed's min(32, N)); 0 = full
    warmup_steps: int = 100
    n_cycles: int = 1  # cosine cycles over max_steps (hard restarts between them); 1 = plain cosine
    min_lr_frac: float = 0.1  # lr at the bottom of each cosine, as a fraction of the peak

    def __post_init__(self) -> None:
        _check(self.lr is None or self.lr > 0, f"optim.lr must be > 0 or None, got {self.lr!r}")
        _check(self.lr_scale > 0, f"optim.lr_scale must be > 0, got {self.lr_scale!r}")
        _check(self.weight_decay >= 0, f"optim.weight_decay must be >= 0, got {self.weight_decay}")
        _check(0 <= self.beta1 < 1 and 0 <= self.beta2 < 1, "optim.beta1/beta2 must be in [0, 1)")
        _check(self.grad_clip >= 0, f"optim.grad_clip must be >= 0 (0 = off), got {self.grad_clip}")
        _check(
            isinstance(self.batch_size, int) and self.batch_size >= 0,
            f"optim.batch_size must be an integer >= 0 (0 = full batch), got {self.batch_size!r}",
        )
        _check(self.warmup_steps >= 0, f"optim.warmup_steps must be >= 0, got {self.warmup_steps}")
        _positive_int("optim.n_cycles", self.n_cycles)
        _check(
            0 <= self.min_lr_frac <= 1,
            f"optim.min_lr_frac must be in [0, 1], got {self.min_lr_frac}",
        )

    def peak_lr(self, d_model: int) -> float:
        return self.lr if self.lr is not None else self.lr_scale / d_model


@dataclass(frozen=True)
class TrainConfig:
    """One trial: model, data, optimizer, stopping rule and seed."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    seed: int = 0  # draws the data and the initialisation
    max_steps: int = 20_000
    eval_every: int = 250  # steps between exact evaluations (one forward pass over the data)
    patience: int = (
        10_000  # stop when best memorized bits gained < min_improvement in this many steps
    )
    min_improvement: float = 0.01  # relative gain that counts as progress for patience
    target_efficiency: float = 0.95  # stop once memorized bits reach this share of the achievable
    target_excess_bits: float = 0.01  # ... or once excess loss over the floor is this (bits/token)
    memorized_slack_bits: float = 1.0  # a sequence counts as memorized within this of its floor
    checkpoint_every: int = 0  # steps between Tune checkpoints; 0 = none (tiny trials rerun faster)

    def __post_init__(self) -> None:
        _check(
            isinstance(self.seed, int) and self.seed >= 0,
            f"seed must be an integer >= 0, got {self.seed!r}",
        )
        _positive_int("max_steps", self.max_steps)
        _positive_int("eval_every", self.eval_every)
        _positive_int("patience", self.patience)
        _check(
            self.min_improvement >= 0, f"min_improvement must be >= 0, got {self.min_improvement}"
        )
        _check(
            0 < self.target_efficiency <= 1,
            f"target_efficiency must be in (0, 1], got {self.target_efficiency}",
        )
        _check(self.target_excess_bits >= 0, "target_excess_bits must be >= 0")
        _check(self.memorized_slack_bits >= 0, "memorized_slack_bits must be >= 0")
        _check(self.checkpoint_every >= 0, "checkpoint_every must be >= 0 (0 = never)")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Rebuild from a (possibly Ray-resolved) nested dict; unknown keys are an error."""
        return config_from_dict(cls, d)


def config_from_dict(cls: type, d: Any, prefix: str = "") -> Any:
    """Build config dataclass ``cls`` from a nested dict, recursing into dataclass-typed fields.

    Unknown keys and wrong types are errors that name the field; missing keys take defaults, so
    results written before a field existed still load.
    """
    _check(isinstance(d, dict), f"{prefix.rstrip('.') or 'config'} must be a mapping, got {d!r}")
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(d) - names)
    _check(
        not unknown,
        f"unknown config field(s) {', '.join(prefix + k for k in unknown)}; "
        f"allowed: {', '.join(prefix + n for n in sorted(names))}",
    )
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for k, v in d.items():
        sub = hints.get(k)
        nested = isinstance(sub, type) and dataclasses.is_dataclass(sub)
        kwargs[k] = config_from_dict(sub, v, prefix=f"{prefix}{k}.") if nested else v
    try:
        return cls(**kwargs)
    except TypeError as e:  # wrong value types deep inside a dataclass
        raise ConfigError(f"bad value in {prefix.rstrip('.') or 'config'}: {e}") from None


def replace(cfg: Any, **changes: Any) -> Any:
    """``dataclasses.replace`` re-exported so callers need one import for configs."""
    return dataclasses.replace(cfg, **changes)
