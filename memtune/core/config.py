"""The config base every experiment builds on, and the configs that several of them share.

Only plain dicts cross into Ray: a sweep's ``param_space`` mirrors the nesting of an
experiment's config dataclass and each trial rebuilds it with ``from_dict``. Every field has a
default so that results written by older versions still load, and every value is checked when
the dataclass is built, before any Ray process starts, so bad input fails with a message
naming the field. The validators live here once, so every experiment words its errors alike.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar

from memtune.core.progress import annealed_steps


class ConfigError(ValueError):
    """Bad user input; the message names the field and what is allowed."""


def check(cond: bool, msg: str) -> None:
    """Raise ``ConfigError(msg)`` unless ``cond``."""
    if not cond:
        raise ConfigError(msg)


def int_at_least(name: str, value: Any, low: int) -> None:
    """An integer (not a bool: ``True`` is an int to Python, never a size) of at least ``low``."""
    check(
        isinstance(value, int) and not isinstance(value, bool) and value >= low,
        f"{name} must be an integer >= {low}, got {value!r}",
    )


def positive_int(name: str, value: Any) -> None:
    int_at_least(name, value, 1)


def check_seed(value: Any, name: str = "seed") -> None:
    int_at_least(name, value, 0)


class ConfigBase:
    """``to_dict``/``from_dict`` for a frozen config dataclass: the form that crosses into Ray."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Any:
        """Rebuild from a (possibly Ray-resolved) nested dict; unknown keys are an error."""
        return config_from_dict(cls, d)


@dataclass(frozen=True)
class ModelConfig:
    """A GPT-2-style decoder. Vocabulary and context length come from the data."""

    name: str = "nano"  # label carried into tables and plots; presets are named
    n_layer: int = 2
    d_model: int = 32
    n_head: int = 2
    mlp_ratio: int = 4  # GPT-2's 4x hidden width in the MLP
    pos_emb: str = "learned"  # "learned" (GPT-2) or "rope" (rotary, used by the Zipf study)
    # GPT-2's tying: one V x d matrix is the token embedding and the LM head. BOS then reads a
    # fixed zero vector instead of a row of its own (memtune.core.models.GPT says why)
    tie_embeddings: bool = False

    def __post_init__(self) -> None:
        positive_int("model.n_layer", self.n_layer)
        positive_int("model.d_model", self.d_model)
        positive_int("model.n_head", self.n_head)
        positive_int("model.mlp_ratio", self.mlp_ratio)
        check(
            self.d_model % self.n_head == 0,
            f"model.d_model ({self.d_model}) must be divisible by model.n_head ({self.n_head})",
        )
        check(
            isinstance(self.tie_embeddings, bool),
            f"model.tie_embeddings must be true or false, got {self.tie_embeddings!r}",
        )
        check(
            self.pos_emb in POS_EMBS,
            f"model.pos_emb must be one of {sorted(POS_EMBS)}, got {self.pos_emb!r}",
        )
        if self.pos_emb == "rope":
            check(
                (self.d_model // self.n_head) % 2 == 0,
                f"model.pos_emb='rope' needs an even head size, got "
                f"d_model/n_head = {self.d_model}/{self.n_head}",
            )

    @staticmethod
    def preset(name: str) -> ModelConfig:
        """Look up a named model size (see ``MODEL_PRESETS``)."""
        check(
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


SCHEDULES = ("cosine", "wsd", "plateau")
# "bf16": the model's parameters, activations, gradients and AdamW moments in bfloat16 (pure
# bf16, so a parameter holds 16 bits: the storage Morris et al.'s fp32/bf16 comparison is
# about); "mixed": torch autocast, the forward pass in bf16 over fp32 parameters, gradients
# and moments (a parameter holds 32 bits; memtune.core.precision). In every case the loss and
# each evaluated log-probability are computed in fp32 from the logits
DTYPES = ("fp32", "mixed", "bf16")


@dataclass(frozen=True)
class OptimConfig:
    """AdamW with linear warmup, then cosine decay with hard restarts (the seed's schedule) or a
    warmup-stable-decay with a hold at its floor, fixed in advance or with a stall trigger
    (``memtune.core.optim.Schedule``)."""

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
    # "cosine": n_cycles fixed in advance over max_steps. "wsd": peak, a cosine decay of
    # decay_steps, a hold of hold_steps at the floor, ending at max_steps. "plateau": "wsd" whose
    # decay may start earlier, when progress stalls (memtune.core.optim.Schedule)
    schedule: str = "cosine"
    stall_steps: int = 2000  # plateau: decay once the monitored value gained < stall_tol in this
    stall_tol: float = 0.02  # plateau: relative gain that still counts as progress at the peak
    decay_steps: int = 4000  # wsd/plateau: length of the cosine from peak to min_lr_frac * peak
    hold_steps: int = 0  # wsd/plateau: steps at the floor after the decay, before max_steps
    name: str = ""  # label carried into tables and trial names (the protocol study's settings)
    dtype: str = "fp32"  # one of DTYPES: what the model trains and stores its parameters in
    # torch.compile the model's forward and the optimizer's step (memtune.core.optim). Off here:
    # a short trial does not pay back its ~30 s of compile; the default capacity preset, whose
    # trials run 48,000-72,000 steps, turns it on (benchmarks/run.py, step_compiled_life_ratio)
    compile: bool = False
    # a field set by --set -> (the field that would otherwise decide it, the value that leaves
    # it free): lr, when set, replaces lr_scale / d_model (memtune.tune.overrides)
    DECIDED_BY: ClassVar[dict[str, tuple[str, Any]]] = {"lr_scale": ("lr", None)}

    def __post_init__(self) -> None:
        check(self.lr is None or self.lr > 0, f"optim.lr must be > 0 or None, got {self.lr!r}")
        check(
            self.dtype in DTYPES,
            f"optim.dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}",
        )
        check(
            isinstance(self.compile, bool),
            f"optim.compile must be true or false, got {self.compile!r}",
        )
        check(self.lr_scale > 0, f"optim.lr_scale must be > 0, got {self.lr_scale!r}")
        check(self.weight_decay >= 0, f"optim.weight_decay must be >= 0, got {self.weight_decay}")
        check(0 <= self.beta1 < 1 and 0 <= self.beta2 < 1, "optim.beta1/beta2 must be in [0, 1)")
        check(self.grad_clip >= 0, f"optim.grad_clip must be >= 0 (0 = off), got {self.grad_clip}")
        check(
            isinstance(self.batch_size, int) and self.batch_size >= 0,
            f"optim.batch_size must be an integer >= 0 (0 = full batch), got {self.batch_size!r}",
        )
        check(self.warmup_steps >= 0, f"optim.warmup_steps must be >= 0, got {self.warmup_steps}")
        positive_int("optim.n_cycles", self.n_cycles)
        check(
            0 <= self.min_lr_frac <= 1,
            f"optim.min_lr_frac must be in [0, 1], got {self.min_lr_frac}",
        )
        check(
            self.schedule in SCHEDULES,
            f"optim.schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}",
        )
        positive_int("optim.stall_steps", self.stall_steps)
        check(self.stall_tol >= 0, f"optim.stall_tol must be >= 0, got {self.stall_tol}")
        int_at_least("optim.decay_steps", self.decay_steps, 0)
        int_at_least("optim.hold_steps", self.hold_steps, 0)

    def peak_lr(self, d_model: int) -> float:
        return self.lr if self.lr is not None else self.lr_scale / d_model

    def check_fits(self, max_steps: int, window_at_cap: int) -> None:
        """Refuse a wsd/plateau schedule whose decay and hold do not end by ``max_steps``, or
        whose annealed stretch is shorter than the saturation verdict's window at the cap (no
        run that reaches the cap could then be judged saturated). The capacity and the
        generalization configs validate their protocol with it."""
        check(
            self.min_lr_frac < 1,
            f"optim.min_lr_frac must be < 1 where runs are judged saturated, got "
            f"{self.min_lr_frac}: at 1 the lr never anneals, and a plateau at the peak lr would "
            "count as saturated",
        )
        if self.schedule == "cosine":
            return
        check(
            self.warmup_steps + self.decay_steps + self.hold_steps <= max_steps,
            f"optim.warmup_steps + optim.decay_steps + optim.hold_steps "
            f"({self.warmup_steps} + {self.decay_steps} + {self.hold_steps}) must fit in "
            f"max_steps ({max_steps}): the decay and the hold come before the cap",
        )
        annealed = annealed_steps(self.hold_steps, self.decay_steps)
        check(
            annealed >= window_at_cap,
            f"the annealed stretch (optim.hold_steps + the decay's annealed end = {annealed} "
            f"steps) must be at least the judging window at max_steps (max(saturation_window, "
            f"saturation_fraction x max_steps) = {window_at_cap}): else no run that reaches the "
            "cap can be judged saturated",
        )


# "markov": the offline default, a generated language with known entropy (memtune/corpus.py says
# why); "pydoc": real English text shipped with CPython; "text": the user's files; "hf": a
# Hugging Face dataset (optional extra, needs the hub).
SOURCES = ("markov", "pydoc", "text", "hf")


@dataclass(frozen=True)
class CorpusConfig:
    """Where documents come from, and which of them are targets z and controls.

    Every document is ``doc_len`` tokens. A seed set holds the ``n_targets`` target documents and
    filler documents; the ``n_controls`` controls come from the same source but are never trained
    on. Targets and controls depend on (corpus, seed) only, never on the seed-set size, so every
    seed set of a sweep contains the same targets.
    """

    source: str = "markov"  # one of SOURCES
    vocab_size: int = 16  # markov: symbols V (byte sources always use 256)
    alpha: float = 0.3  # markov: Dirichlet concentration of each transition row; lower = less H
    language_seed: int = 0  # markov: draws the transition matrix, shared by every trial seed
    paths: tuple[str, ...] = ()  # text: UTF-8 files read as bytes
    hf_dataset: str = ""  # hf: dataset id, e.g. common-pile/wikimedia_filtered (the seed's data)
    hf_config: str = ""  # hf: dataset configuration name, "" for the default
    hf_split: str = "train"
    hf_text_field: str = "text"
    doc_len: int = 64  # tokens per document = the model's context T
    prefix_len: int = 16  # tokens of each document given as the prompt when measuring P(z)
    n_targets: int = 16  # documents z inside every seed set whose P(z) is measured
    n_controls: int = 16  # matched documents never trained on: P(z) from generalization alone

    def __post_init__(self) -> None:
        object.__setattr__(self, "paths", tuple(self.paths))
        check(
            self.source in SOURCES,
            f"corpus.source must be one of {', '.join(SOURCES)}, got {self.source!r}",
        )
        int_at_least("corpus.vocab_size", self.vocab_size, 2)
        check(
            self.vocab_size <= 65_536,
            f"corpus.vocab_size must be <= 65536, got {self.vocab_size}",
        )
        check(self.alpha > 0, f"corpus.alpha must be > 0, got {self.alpha!r}")
        check_seed(self.language_seed, "corpus.language_seed")
        int_at_least("corpus.doc_len", self.doc_len, 2)
        int_at_least("corpus.prefix_len", self.prefix_len, 0)
        check(
            self.prefix_len < self.doc_len,
            f"corpus.prefix_len ({self.prefix_len}) must be < corpus.doc_len ({self.doc_len}): "
            "P(z) needs at least one continuation token",
        )
        positive_int("corpus.n_targets", self.n_targets)
        positive_int("corpus.n_controls", self.n_controls)
        if self.source == "text":
            check(
                len(self.paths) > 0 and all(isinstance(p, str) and p for p in self.paths),
                "corpus.paths must list at least one text file when corpus.source='text'",
            )
        if self.source == "hf":
            check(
                bool(self.hf_dataset),
                "corpus.hf_dataset must name a dataset when corpus.source='hf'",
            )

    @property
    def token_vocab_size(self) -> int:
        """V seen by the model: the Markov alphabet, or 256 for byte-level text."""
        return self.vocab_size if self.source == "markov" else 256


def check_number(name: str, value: Any, hint: Any) -> None:
    """Refuse a bool, or any non-number, for a field typed int or float (or either or None):
    ``True`` is an int to Python, so ``lr=true`` would train at lr 1.0 and ``batch_size=true``
    at batch 1; every config built from a dict (every sweep's trials, every ``--set``) passes
    here, before its own validators."""
    union = typing.get_origin(hint) in (typing.Union, types.UnionType)
    allowed = set(typing.get_args(hint)) if union else {hint}
    if value is None and type(None) in allowed:
        return
    if not allowed & {int, float} or allowed & {bool, str, Any}:
        return
    kind = "a number" if float in allowed else "an integer"
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    check(
        ok and (float in allowed or isinstance(value, int)),
        f"{name} must be {kind}{' or null' if type(None) in allowed else ''}, got {value!r}",
    )


def config_from_dict(cls: type, d: Any, prefix: str = "") -> Any:
    """Build config dataclass ``cls`` from a nested dict, recursing into dataclass-typed fields.

    Unknown keys and wrong types are errors that name the field; missing keys take defaults, so
    results written before a field existed still load.
    """
    check(isinstance(d, dict), f"{prefix.rstrip('.') or 'config'} must be a mapping, got {d!r}")
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(d) - names)
    check(
        not unknown,
        f"unknown config field(s) {', '.join(prefix + k for k in unknown)}; "
        f"allowed: {', '.join(prefix + n for n in sorted(names))}",
    )
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for k, v in d.items():
        sub = hints.get(k)
        nested = isinstance(sub, type) and dataclasses.is_dataclass(sub)
        if not nested:
            check_number(f"{prefix}{k}", v, sub)
        kwargs[k] = config_from_dict(sub, v, prefix=f"{prefix}{k}.") if nested else v
    try:
        return cls(**kwargs)
    except TypeError as e:  # wrong value types deep inside a dataclass
        raise ConfigError(f"bad value in {prefix.rstrip('.') or 'config'}: {e}") from None


def replace(cfg: Any, **changes: Any) -> Any:
    """``dataclasses.replace`` re-exported so callers need one import for configs."""
    return dataclasses.replace(cfg, **changes)
