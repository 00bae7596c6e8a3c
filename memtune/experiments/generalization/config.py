"""Configuration of one generalization trial (Morris et al. 2025, second half) as dataclasses.

``GenConfig`` is one trial: a GPT (``ModelConfig``) trained with ``OptimConfig`` on N sequences
drawn from a Markov source whose probabilities are known exactly (``SourceConfig``), judged by
the capacity protocol's verdicts. Sweeps build it from presets; each trial rebuilds it with
``GenConfig.from_dict``. Nothing here imports torch: the sweep's driver validates every config.

    python -c "from memtune.experiments.generalization.config import GenConfig; print(GenConfig())"
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from memtune.core.config import (
    ConfigBase,
    ModelConfig,
    OptimConfig,
    check,
    check_seed,
    int_at_least,
    positive_int,
)
from memtune.core.progress import judging_window

RECORDS_FILE = "generalization_sequences.parquet"  # per-sequence code lengths, one per trial


SOURCES = ("markov", "hmm")  # data.source: a visible first-order chain, or a hidden one


@dataclass(frozen=True)
class SourceConfig:
    """The data: N training and N held-out sequences of T tokens from one exact source.

    ``source="markov"``: ``memtune.core.corpus``'s language (transition rows ~ Dirichlet(alpha),
    first token from the stationary distribution). The defaults give an entropy rate of 0.91
    bits/token, 0.45 of log2 V: there is structure to generalize, and still ~59 bits per
    sequence to memorize. A model learns it from the current token alone.

    ``source="hmm"``: a hidden Markov source (``data.HiddenMarkovSource``): ``n_states`` hidden
    states, each with its own emission distribution over V (rows ~ Dirichlet(alpha)), a sticky
    hidden chain (``stay_prob``). The next token depends on the state, which only the context
    reveals, so a model must infer it from many tokens back: the structure text has and the
    chain lacks. Code lengths stay exact (the forward algorithm).
    """

    vocab_size: int = 4  # V; small, so the entropy rate sits well below log2 V
    alpha: float = 0.5  # Dirichlet concentration of each transition (markov) / emission (hmm) row
    language_seed: int = 0  # draws the source's matrices, shared by every trial seed and N
    seq_len: int = 64  # T tokens per sequence (the capacity experiment's 64)
    n_seqs: int = 64  # N training sequences; the held-out set has as many (balanced MI)
    source: str = "markov"  # one of SOURCES
    n_states: int = 4  # hmm only: hidden states, each its own emission distribution
    # hmm only: P(the hidden state stays) per token; leaving picks another state uniformly. 0.98
    # keeps a state ~50 tokens, so most sequences of 64 see one or two states (like a topic),
    # which only the context reveals. With alpha 0.2, V = 4 (the hmm preset): entropy rate
    # 0.74 bits/token, where the best predictor from the previous token alone needs 0.96
    stay_prob: float = 0.98

    def __post_init__(self) -> None:
        int_at_least("data.vocab_size", self.vocab_size, 2)
        check(
            self.vocab_size <= 256,
            f"data.vocab_size must be <= 256 (tiny models), got {self.vocab_size!r}",
        )
        check(
            isinstance(self.alpha, (int, float)) and self.alpha > 0,
            f"data.alpha must be a number > 0, got {self.alpha!r}",
        )
        check_seed(self.language_seed, "data.language_seed")
        int_at_least("data.seq_len", self.seq_len, 2)
        positive_int("data.n_seqs", self.n_seqs)
        check(
            self.source in SOURCES,
            f"data.source must be one of {', '.join(SOURCES)}, got {self.source!r}",
        )
        int_at_least("data.n_states", self.n_states, 2)
        check(
            isinstance(self.stay_prob, (int, float)) and 0 <= self.stay_prob < 1,
            f"data.stay_prob must be a number in [0, 1), got {self.stay_prob!r}",
        )


@dataclass(frozen=True)
class GenConfig(ConfigBase):
    """One trial: model, source, optimizer, the capacity protocol's stopping rule, and seed."""

    model: ModelConfig = field(default_factory=lambda: ModelConfig.preset("cpu-xxs"))
    data: SourceConfig = field(default_factory=SourceConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    seed: int = 0  # draws the sequences and the initialisation
    max_steps: int = 20_000
    eval_every: int = 250  # steps between exact evaluations (every train and held-out sequence)
    # Verdicts, as in the capacity experiment: "memorized" = the model removed at least this
    # share of the gap between the training set's source code length and its floor (log2 N per
    # sequence): the data, not the model, was the limit
    target_memorized_share: float = 0.95
    # "saturated" = the least-squares trend of the train set's code length fell by less than
    # saturation_tol x the capacity estimate (capacity_bpp x params, bits) over the last
    # max(saturation_window, saturation_fraction x step) steps, all at an annealed lr. An
    # absolute scale, not capacity's relative one: on structured data the train code length is
    # mostly what the model generalized (N T h bits), and 2% of that can exceed the capacity
    saturation_window: int = 2000
    saturation_fraction: float = 1 / 4
    saturation_tol: float = 0.02
    # capacity estimate in bits/param for the crossing N* (the N whose source information
    # N E[L_source] equals capacity_bpp x params): docs/capacity.md measured 1.8-2.06 on cpu-*
    capacity_bpp: float = 2.0
    # > 0: N = capacity_multiple x the crossing N* replaces data.n_seqs, so one grid of
    # multiples places every model's dataset sizes around its own crossing
    capacity_multiple: float = 0.0
    # --set data.n_seqs clears capacity_multiple, which would otherwise replace it
    DECIDED_BY: ClassVar[dict[str, tuple[str, Any]]] = {"data.n_seqs": ("capacity_multiple", 0.0)}
    checkpoint_every: int = 0  # steps between Tune checkpoints; 0 = none (tiny trials rerun)
    # True: every run trains max_steps under the same schedule; memorized and saturated stop
    # nothing, and the verdict is judged once, at the end. Without it a small N stops at
    # "memorized" after a few hundred steps while N* trains thousands, and held-out loss (which
    # keeps rising as an interpolating model trains) is compared at different training lengths:
    # a double-descent peak could be the stopping rule's (issue 31)
    equal_steps: bool = False

    def __post_init__(self) -> None:
        check_seed(self.seed)
        positive_int("max_steps", self.max_steps)
        positive_int("eval_every", self.eval_every)
        check(
            0 < self.target_memorized_share <= 1,
            f"target_memorized_share must be in (0, 1], got {self.target_memorized_share!r}",
        )
        positive_int("saturation_window", self.saturation_window)
        check(
            0 <= self.saturation_fraction < 1,
            f"saturation_fraction must be in [0, 1), got {self.saturation_fraction!r}",
        )
        check(self.saturation_tol >= 0, f"saturation_tol must be >= 0, got {self.saturation_tol}")
        check(self.capacity_bpp > 0, f"capacity_bpp must be > 0, got {self.capacity_bpp!r}")
        check(
            self.capacity_multiple >= 0,
            f"capacity_multiple must be >= 0 (0 = use data.n_seqs), got {self.capacity_multiple!r}",
        )
        check(self.checkpoint_every >= 0, "checkpoint_every must be >= 0 (0 = never)")
        check(
            isinstance(self.equal_steps, bool),
            f"equal_steps must be true or false, got {self.equal_steps!r}",
        )
        self.optim.check_fits(self.max_steps, self.judging_window(self.max_steps))

    def judging_window(self, step: int) -> int:
        """Steps over which a run at ``step`` must be flat, all at an annealed lr, to saturate."""
        return judging_window(step, self.saturation_window, self.saturation_fraction)

    def n_seqs_for(self, n_params: int, seq_bits: float) -> int:
        """N of this trial: data.n_seqs, or capacity_multiple x the crossing N*.

        Args:
            n_params: parameters of the built model.
            seq_bits: the source's expected code length of one sequence (bits).
        """
        if self.capacity_multiple == 0:
            return self.data.n_seqs
        return max(2, round(self.capacity_multiple * crossing_n_seqs(self, n_params, seq_bits)))


def crossing_n_seqs(cfg: GenConfig, n_params: int, seq_bits: float) -> float:
    """N*: the dataset size whose information N x E[L_source] equals the capacity estimate.

    Morris et al.'s claims are stated against this crossing ("data size exceeds capacity"):
    the information of the data is the source's code length of the training set, which memtune
    knows exactly; E[L_source] per sequence is H(pi) + (T - 1) h.
    """
    return cfg.capacity_bpp * n_params / seq_bits
