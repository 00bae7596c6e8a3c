"""Configuration of the memorization scaling-law experiment (seed 000) as frozen dataclasses.

``ScalingConfig`` is one trial: a GPT (``ModelConfig``) trained with ``OptimConfig`` on a seed
set of ``seed_set_tokens`` tokens drawn from a corpus (``CorpusConfig``), evaluated at every
epoch count of ``eval_epochs``. It is a ``ConfigBase`` (``memtune.core.config`` says how configs
cross into Ray and are checked).

    python -c "from memtune.experiments.scaling.config import ScalingConfig; print(ScalingConfig())"
"""

from __future__ import annotations

from dataclasses import dataclass, field

from memtune.core.config import (
    ConfigBase,
    CorpusConfig,
    ModelConfig,
    OptimConfig,
    check,
    check_seed,
    positive_int,
)

# Constant lr after a short warmup: with min_lr_frac = 1 ``lr_at`` never decays, so the model
# reported after e epochs of a long run is the model a run of exactly e epochs would give. A
# decaying schedule would tie every epoch count to the length of the run it sits in.
SCALING_OPTIM = OptimConfig(batch_size=16, lr=3e-3, warmup_steps=10, min_lr_frac=1.0)


@dataclass(frozen=True)
class ScalingConfig(ConfigBase):
    """One trial: one seed set, trained up to the largest epoch count, P(z) at every count."""

    model: ModelConfig = field(default_factory=lambda: ModelConfig.preset("nano"))
    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    optim: OptimConfig = SCALING_OPTIM
    seed_set_tokens: int = 8192  # D: tokens in the seed set, targets included
    eval_epochs: tuple[int, ...] = (1, 2, 5, 10, 20, 50, 100)  # report P(z) after these epochs
    seed: int = 0  # draws the documents, the batch order and the initialisation
    checkpoint: bool = False  # save a Tune checkpoint with every report (long runs only)

    @property
    def max_epochs(self) -> int:
        """The epochs a trial trains: up to its largest epoch count (its budget)."""
        return max(self.eval_epochs) if self.eval_epochs else 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "eval_epochs", tuple(self.eval_epochs))
        check_seed(self.seed)
        positive_int("seed_set_tokens", self.seed_set_tokens)
        epochs = self.eval_epochs
        check(
            len(epochs) > 0
            and all(isinstance(e, int) and not isinstance(e, bool) and e >= 1 for e in epochs),
            f"eval_epochs must be a non-empty list of integers >= 1, got {list(epochs)!r}",
        )
        check(
            all(a < b for a, b in zip(epochs, epochs[1:], strict=False)),
            f"eval_epochs must be strictly increasing, got {list(epochs)!r}",
        )
        check(isinstance(self.checkpoint, bool), "checkpoint must be true or false")
        T = self.corpus.doc_len
        check(
            self.seed_set_tokens % T == 0,
            f"seed_set_tokens ({self.seed_set_tokens}) must be a multiple of corpus.doc_len ({T})",
        )
        n_docs = self.seed_set_tokens // T
        check(
            n_docs > self.corpus.n_targets,
            f"seed_set_tokens ({self.seed_set_tokens}) holds {n_docs} documents of "
            f"{T} tokens; it must hold more than corpus.n_targets ({self.corpus.n_targets})",
        )
        B = self.optim.batch_size
        check(
            B == 0 or B >= n_docs or n_docs % B == 0,
            f"optim.batch_size ({B}) must divide the {n_docs} documents of the seed set "
            f"(seed_set_tokens / corpus.doc_len), so that every document is seen once per epoch",
        )

    @property
    def n_docs(self) -> int:
        return self.seed_set_tokens // self.corpus.doc_len
