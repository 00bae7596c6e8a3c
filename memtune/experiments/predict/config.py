"""Configuration of the memorization-prediction experiment (seed 003) as frozen dataclasses.

``PredictConfig`` is one trial: a GPT (``ModelConfig``) trained with ``OptimConfig`` for
``max_steps`` on a corpus with duplicates (``DupCorpusConfig``), labelled at ``n_evals``
checkpoints. Every trial of a sweep trains on the same corpus (it depends on the corpus config
only, never on the trial seed), so labels of different models line up sequence by sequence.
Like the other configs it crosses into Ray as a plain dict and every value is checked here,
before Ray starts, with a message naming the field.

    python -c "from memtune.experiments.predict.config import PredictConfig; print(PredictConfig())"
"""

from __future__ import annotations

from dataclasses import dataclass, field

from memtune.core.config import (
    ConfigBase,
    ModelConfig,
    OptimConfig,
    check,
    check_seed,
    int_at_least,
    positive_int,
)


@dataclass(frozen=True)
class DupCorpusConfig:
    """A corpus of distinct Markov-language sequences, each repeated a heavy-tailed number of times.

    Sequences are ``prefix_len + suffix_len`` tokens (Biderman et al.: 32 + 32). Each comes from
    one of ``len(alphas)`` domains, drawn uniformly: domain d is a Markov language whose
    transition rows are Dirichlet(alphas[d]) (language seed ``language_seed + d``), so domains
    differ in entropy the way boilerplate, prose and noisy text do in the Pile. Each distinct
    sequence occurs c times with P(c) proportional to c^-zipf_a on 1..max_count, so most occur
    once and a few many times, as near-duplicates do in web text. The copies are shuffled into
    one training stream that every trial reads in the same order, epoch after epoch.
    """

    vocab_size: int = 16  # V of the Markov language
    # one language per domain; at V=16 these give 1.25, 2.17 and 3.10 bits/token
    alphas: tuple[float, ...] = (0.05, 0.2, 0.5)
    language_seed: int = 0  # domain d's transition matrix is drawn with language_seed + d
    n_unique: int = 1024  # distinct sequences (3,345 rows with their copies at the defaults)
    prefix_len: int = 32  # k of k-extractable: tokens given as the prompt
    suffix_len: int = 32  # tokens that greedy decoding must reproduce
    zipf_a: float = 2.0  # exponent of the duplicate-count law P(c) ~ c^-a
    max_count: int = 100  # largest number of copies of one sequence
    corpus_seed: int = 0  # draws the sequences, their counts and the stream order

    def __post_init__(self) -> None:
        int_at_least("corpus.vocab_size", self.vocab_size, 2)
        check(self.vocab_size <= 255, f"corpus.vocab_size must be <= 255, got {self.vocab_size}")
        object.__setattr__(self, "alphas", tuple(self.alphas))
        check(
            len(self.alphas) > 0
            and all(isinstance(a, int | float) and not isinstance(a, bool) and a > 0
                    for a in self.alphas),
            f"corpus.alphas must be a non-empty list of numbers > 0, got {list(self.alphas)!r}",
        )  # fmt: skip
        check_seed(self.language_seed, "corpus.language_seed")
        positive_int("corpus.n_unique", self.n_unique)
        positive_int("corpus.prefix_len", self.prefix_len)
        positive_int("corpus.suffix_len", self.suffix_len)
        check(self.zipf_a > 0, f"corpus.zipf_a must be > 0, got {self.zipf_a!r}")
        positive_int("corpus.max_count", self.max_count)
        check_seed(self.corpus_seed, "corpus.corpus_seed")

    @property
    def seq_len(self) -> int:
        return self.prefix_len + self.suffix_len


# Batch 64 and lr 0.6/d_model (the capacity presets' rate) with cosine decay to 10%: nano memorizes
# the sequences with more than 16 copies within 1,500 of the 2,000 default steps (docs/predict.md).
PREDICT_OPTIM = OptimConfig(batch_size=64, lr_scale=0.6, warmup_steps=100)


@dataclass(frozen=True)
class PredictConfig(ConfigBase):
    """One trial: one model trained on the shared corpus, labelled at ``n_evals`` checkpoints."""

    model: ModelConfig = field(default_factory=lambda: ModelConfig.preset("nano"))
    corpus: DupCorpusConfig = field(default_factory=DupCorpusConfig)
    optim: OptimConfig = PREDICT_OPTIM
    max_steps: int = 2000  # optimizer steps of optim.batch_size sequences from the stream
    n_evals: int = 4  # checkpoints, evenly spaced up to max_steps, at which labels are computed
    seed: int = 0  # the initialisation; the corpus and its order do not depend on it

    def __post_init__(self) -> None:
        positive_int("max_steps", self.max_steps)
        positive_int("n_evals", self.n_evals)
        check(
            self.n_evals <= self.max_steps,
            f"n_evals ({self.n_evals}) must be <= max_steps ({self.max_steps})",
        )
        check_seed(self.seed)
        check(self.optim.batch_size >= 1, "optim.batch_size must be >= 1 (no full batch here)")

    @property
    def eval_steps(self) -> tuple[int, ...]:
        """The steps at which labels are computed: n_evals evenly spaced, the last = max_steps."""
        return tuple(
            sorted({round(self.max_steps * (i + 1) / self.n_evals) for i in range(self.n_evals)})
        )
