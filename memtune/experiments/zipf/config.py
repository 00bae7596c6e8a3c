"""Configuration of the Zipf-frequency memorization experiment (seed 001) as frozen dataclasses.

``ZipfConfig`` is one trial: one model (``ArchConfig``: a GPT or the seed's phenomenological
read-out) trained on K random binary sequences (``ZipfDataConfig``) that it sees with Zipfian
frequencies, one seed. It is a ``ConfigBase`` (``memtune.core.config`` says how configs cross
into Ray and are checked).

    python -c "from memtune.experiments.zipf.config import ZipfConfig; print(ZipfConfig())"
"""

from __future__ import annotations

from dataclasses import dataclass, field

from memtune.core.config import (
    ConfigBase,
    ModelConfig,
    OptimConfig,
    check,
    check_seed,
    positive_int,
)

# Columns of the records that describe the trial, repeated on every row so that a records
# file (or a concatenation of them) is a self-describing table for the analysis
# (which imports it from here, without torch).
TRIAL_COLUMNS = (
    "experiment",
    "kind",
    "n_layer",
    "n_head",
    "d_model",
    "pos_emb",
    "lr",
    "seed",
    "alpha",
    "n_seqs",
    "seq_len",
    "n_params",
)

RECORDS_FILE = "zipf_records.parquet"  # per-sequence records, one file per trial directory

KINDS = ("gpt", "pheno")  # a GPT decoder, or the seed's linear read-out + sigmoid


@dataclass(frozen=True)
class ZipfDataConfig:
    """K uniform random binary sequences; the sequence of rank r is drawn with p ~ r^-alpha."""

    n_seqs: int = 256  # K, the number of distinct sequences
    seq_len: int = 64  # T, bits per sequence
    alpha: float = 1.0  # Zipf exponent: rank 1 is drawn K^alpha times as often as rank K

    def __post_init__(self) -> None:
        positive_int("data.n_seqs", self.n_seqs)
        check(
            isinstance(self.seq_len, int)
            and not isinstance(self.seq_len, bool)
            and self.seq_len >= 2,
            f"data.seq_len must be an integer >= 2, got {self.seq_len!r}",
        )
        check(
            isinstance(self.alpha, int | float) and self.alpha >= 0,
            f"data.alpha must be a number >= 0 (0 = uniform), got {self.alpha!r}",
        )
        check(
            self.n_seqs <= 2**self.seq_len,
            f"data.n_seqs ({self.n_seqs}) exceeds the 2**{self.seq_len} distinct sequences",
        )


@dataclass(frozen=True)
class ArchConfig:
    """One of the seed's experiments: a named model and its learning rate.

    ``name`` is the experiment label the analysis filters and compares by (small, medium,
    large_rope, large_lr, pheno, ...). A GPT uses ``model``; the phenomenological model
    (``kind="pheno"``) uses ``d_feature`` and ignores ``model``.
    """

    name: str = "small"  # experiment label in tables, plots and trial names
    kind: str = "gpt"  # one of KINDS
    model: ModelConfig = field(default_factory=lambda: ModelConfig("small", 1, 32, 2))
    d_feature: int = 16  # pheno: d, the features of the representation v_n
    lr_mult: float = 1.0  # multiplies the optimizer's peak lr (the seed's large_lr arm)

    def __post_init__(self) -> None:
        check(
            isinstance(self.name, str) and bool(self.name) and "/" not in self.name,
            f"arch.name must be a non-empty label without '/', got {self.name!r}",
        )
        check(self.kind in KINDS, f"arch.kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        positive_int("arch.d_feature", self.d_feature)
        check(
            isinstance(self.lr_mult, int | float) and self.lr_mult > 0,
            f"arch.lr_mult must be > 0, got {self.lr_mult!r}",
        )

    @property
    def width(self) -> int:
        """The width the default peak lr (``lr_scale / width``) is scaled by."""
        return self.model.d_model if self.kind == "gpt" else self.d_feature


# Constant lr after warmup (min_lr_frac = 1): a sequence's loss after n presentations should
# not depend on where in a decaying schedule those presentations fell.
ZIPF_OPTIM = OptimConfig(batch_size=32, warmup_steps=100, min_lr_frac=1.0)


@dataclass(frozen=True)
class ZipfConfig(ConfigBase):
    """One trial: one model on one Zipf-sampled data set, per-sequence records over training."""

    arch: ArchConfig = field(default_factory=ArchConfig)
    data: ZipfDataConfig = field(default_factory=ZipfDataConfig)
    optim: OptimConfig = ZIPF_OPTIM
    max_steps: int = 3000  # training steps of optim.batch_size draws each
    n_evals: int = 25  # per-sequence evaluations, log-spaced in steps from first_eval to the end
    first_eval: int = 10  # step of the first evaluation (presentations span decades: log spacing)
    seed: int = 0  # draws the sequences, the batches and the initialisation
    checkpoint_every: int = 0  # steps between Tune checkpoints; 0 = none (short trials rerun)

    def __post_init__(self) -> None:
        check_seed(self.seed)
        positive_int("max_steps", self.max_steps)
        positive_int("n_evals", self.n_evals)
        positive_int("first_eval", self.first_eval)
        check(
            self.first_eval <= self.max_steps,
            f"first_eval ({self.first_eval}) must be <= max_steps ({self.max_steps})",
        )
        check(
            isinstance(self.checkpoint_every, int) and self.checkpoint_every >= 0,
            f"checkpoint_every must be an integer >= 0 (0 = never), got {self.checkpoint_every!r}",
        )
        check(
            self.optim.batch_size >= 1,
            f"optim.batch_size must be >= 1 (batches are drawn with replacement), got "
            f"{self.optim.batch_size}",
        )

    def eval_steps(self) -> list[int]:
        """The steps after which every sequence is evaluated: log-spaced, the last = max_steps."""
        import numpy as np

        steps = np.geomspace(self.first_eval, self.max_steps, self.n_evals)
        return sorted({int(round(s)) for s in steps} | {self.max_steps})
