"""Configuration of the memorization scaling-law experiment (seed 000) as frozen dataclasses.

``ScalingConfig`` is one trial: a GPT (``ModelConfig``) trained with ``OptimConfig`` on a seed
set of ``seed_set_tokens`` tokens drawn from a corpus (``CorpusConfig``), evaluated at every epoch
count of ``eval_epochs``. Like ``TrainConfig`` it crosses into Ray as a plain dict
(``to_dict``/``from_dict``), every field has a default so old results still load, and every value
is checked here, before Ray starts, with a message naming the field.

    python -c "from memtune.scaling_config import ScalingConfig; print(ScalingConfig())"
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from memtune.config import (
    ModelConfig,
    OptimConfig,
    _check,
    _positive_int,
    config_from_dict,
)

# "markov": the offline default, a generated language with known entropy (memtune/corpus.py says
# why); "pydoc": real English text shipped with CPython; "text": the user's files; "hf": a
# Hugging Face dataset (optional extra, needs the hub).
SOURCES = ("markov", "pydoc", "text", "hf")


def _int(name: str, value: Any, low: int) -> None:
    _check(
        isinstance(value, int) and not isinstance(value, bool) and value >= low,
        f"{name} must be an integer >= {low}, got {value!r}",
    )


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
        _check(
            self.source in SOURCES,
            f"corpus.source must be one of {', '.join(SOURCES)}, got {self.source!r}",
        )
        _int("corpus.vocab_size", self.vocab_size, 2)
        _check(
            self.vocab_size <= 65_536,
            f"corpus.vocab_size must be <= 65536, got {self.vocab_size}",
        )
        _check(self.alpha > 0, f"corpus.alpha must be > 0, got {self.alpha!r}")
        _int("corpus.language_seed", self.language_seed, 0)
        _int("corpus.doc_len", self.doc_len, 2)
        _int("corpus.prefix_len", self.prefix_len, 0)
        _check(
            self.prefix_len < self.doc_len,
            f"corpus.prefix_len ({self.prefix_len}) must be < corpus.doc_len ({self.doc_len}): "
            "P(z) needs at least one continuation token",
        )
        _positive_int("corpus.n_targets", self.n_targets)
        _positive_int("corpus.n_controls", self.n_controls)
        if self.source == "text":
            _check(
                len(self.paths) > 0 and all(isinstance(p, str) and p for p in self.paths),
                "corpus.paths must list at least one text file when corpus.source='text'",
            )
        if self.source == "hf":
            _check(
                bool(self.hf_dataset),
                "corpus.hf_dataset must name a dataset when corpus.source='hf'",
            )

    @property
    def token_vocab_size(self) -> int:
        """V seen by the model: the Markov alphabet, or 256 for byte-level text."""
        return self.vocab_size if self.source == "markov" else 256


# Constant lr after a short warmup: with min_lr_frac = 1 ``lr_at`` never decays, so the model
# reported after e epochs of a long run is the model a run of exactly e epochs would give. A
# decaying schedule would tie every epoch count to the length of the run it sits in.
SCALING_OPTIM = OptimConfig(batch_size=16, lr=3e-3, warmup_steps=10, min_lr_frac=1.0)


@dataclass(frozen=True)
class ScalingConfig:
    """One trial: one seed set, trained up to the largest epoch count, P(z) at every count."""

    model: ModelConfig = field(default_factory=lambda: ModelConfig.preset("nano"))
    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    optim: OptimConfig = SCALING_OPTIM
    seed_set_tokens: int = 8192  # D: tokens in the seed set, targets included
    eval_epochs: tuple[int, ...] = (1, 2, 5, 10, 20, 50, 100)  # report P(z) after these epochs
    seed: int = 0  # draws the documents, the batch order and the initialisation
    checkpoint: bool = False  # save a Tune checkpoint with every report (long runs only)

    def __post_init__(self) -> None:
        object.__setattr__(self, "eval_epochs", tuple(self.eval_epochs))
        _int("seed", self.seed, 0)
        _positive_int("seed_set_tokens", self.seed_set_tokens)
        epochs = self.eval_epochs
        _check(
            len(epochs) > 0
            and all(isinstance(e, int) and not isinstance(e, bool) and e >= 1 for e in epochs),
            f"eval_epochs must be a non-empty list of integers >= 1, got {list(epochs)!r}",
        )
        _check(
            all(a < b for a, b in zip(epochs, epochs[1:], strict=False)),
            f"eval_epochs must be strictly increasing, got {list(epochs)!r}",
        )
        _check(isinstance(self.checkpoint, bool), "checkpoint must be true or false")
        T = self.corpus.doc_len
        _check(
            self.seed_set_tokens % T == 0,
            f"seed_set_tokens ({self.seed_set_tokens}) must be a multiple of corpus.doc_len ({T})",
        )
        n_docs = self.seed_set_tokens // T
        _check(
            n_docs > self.corpus.n_targets,
            f"seed_set_tokens ({self.seed_set_tokens}) holds {n_docs} documents of "
            f"{T} tokens; it must hold more than corpus.n_targets ({self.corpus.n_targets})",
        )
        B = self.optim.batch_size
        _check(
            B == 0 or B >= n_docs or n_docs % B == 0,
            f"optim.batch_size ({B}) must divide the {n_docs} documents of the seed set "
            f"(seed_set_tokens / corpus.doc_len), so that every document is seen once per epoch",
        )

    @property
    def n_docs(self) -> int:
        return self.seed_set_tokens // self.corpus.doc_len

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ScalingConfig:
        """Rebuild from a (possibly Ray-resolved) nested dict; unknown keys are an error."""
        return config_from_dict(cls, d)
