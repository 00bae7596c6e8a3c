"""Data of the memorization-prediction experiment (seed 003): a corpus with duplicates, and Pythia.

``make_dup_corpus`` is the offline default: distinct sequences of generated Markov languages
(``memtune.core.corpus``, one per domain), each repeated a heavy-tailed number of times and shuffled
into one training stream. It is plain numpy and fully determined by its config, so every trial
of a sweep trains on the same stream and the analysis can line labels up sequence by sequence.

``load_pythia_memorized`` reads the real labels of Biderman et al. (2023):
``EleutherAI/pythia-memorized-evals`` on the Hugging Face hub, one split per model (``duped.1.4b``,
``deduped.1.4b``, ...), columns ``index`` (int64, the sequence's place in Pythia's training data)
and ``tokens`` (64 int64), memorized sequences only. It needs the optional extra
(``pip install -e ".[hf]"``) and, for the real thing, the hub; ``data_files=`` reads a local
parquet file with the same schema instead (the tests write one).

    python -c "from memtune.experiments.predict.data import make_dup_corpus; \
from memtune.experiments.predict.config import DupCorpusConfig; \
c = make_dup_corpus(DupCorpusConfig()); print(c.sequences.shape, c.counts.sum())"
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from memtune.core.config import ConfigError, CorpusConfig
from memtune.core.corpus import make_language, sample_documents
from memtune.experiments.predict.config import DupCorpusConfig

_COUNTS_KEY = 3_100  # random streams apart from memtune.core.corpus's
_STREAM_KEY = 3_101
_DOMAIN_KEY = 3_102
PYTHIA_DATASET = "EleutherAI/pythia-memorized-evals"
PYTHIA_COLUMNS = ("index", "tokens")


@dataclass(frozen=True)
class DupCorpus:
    """Distinct sequences, their copy counts and the training stream that holds the copies."""

    sequences: np.ndarray  # (U, T) int64, distinct
    counts: np.ndarray  # (U,) int64 >= 1: copies of each sequence in the stream
    stream: np.ndarray  # (M,) int64 indices into sequences, M = counts.sum(), training order
    vocab_size: int
    domains: np.ndarray | None = None  # (U,) int: which language each sequence comes from

    @property
    def last_position(self) -> np.ndarray:
        """(U,) place of each sequence's last copy in the stream, as a fraction in [0, 1]."""
        last = np.zeros(len(self.sequences), dtype=np.int64)
        last[self.stream] = np.arange(len(self.stream))  # later copies overwrite earlier ones
        return last / max(len(self.stream) - 1, 1)

    def table(self) -> pd.DataFrame:
        """One row per distinct sequence: seq_id, tokens, count, position (last copy), domain."""
        n = len(self.sequences)
        return pd.DataFrame(
            {
                "seq_id": np.arange(n),
                "tokens": list(self.sequences),
                "count": self.counts,
                "position": self.last_position,
                "domain": self.domains if self.domains is not None else np.zeros(n, np.int64),
            }
        )


def zipf_counts(rng: np.random.Generator, n: int, a: float, max_count: int) -> np.ndarray:
    """n copy counts from the truncated power law P(c) = c^-a / Z on c = 1 .. max_count."""
    c = np.arange(1, max_count + 1)
    p = c.astype(np.float64) ** -a
    return rng.choice(c, size=n, p=p / p.sum()).astype(np.int64)


def make_dup_corpus(cfg: DupCorpusConfig) -> DupCorpus:
    """The corpus of ``cfg``: n_unique distinct Markov sequences of mixed domains, copied, shuffled.

    Each domain's sequences are drawn like the scaling experiment's documents; repeats among
    them are dropped, which at 64 tokens almost never happens outside a near-deterministic
    language.
    """
    T, n = cfg.seq_len, cfg.n_unique
    domains = np.random.default_rng([_DOMAIN_KEY, cfg.corpus_seed]).integers(
        0, len(cfg.alphas), size=n
    )
    sequences = np.empty((n, T), dtype=np.int64)
    for d, alpha in enumerate(cfg.alphas):
        lang = make_language(
            CorpusConfig(
                vocab_size=cfg.vocab_size, alpha=alpha, language_seed=cfg.language_seed + d
            )
        )
        want = int((domains == d).sum())
        draw = sample_documents(lang, want + want // 8 + 8, T, cfg.corpus_seed * 1_000 + d)
        _, first = np.unique(draw, axis=0, return_index=True)
        distinct = draw[np.sort(first)]
        if len(distinct) < want:
            raise ConfigError(
                f"corpus: domain {d} (alpha {alpha}) gives only {len(distinct)} distinct "
                f"sequences of {T} tokens in {len(draw)} draws; lower corpus.n_unique "
                f"({n}) or raise corpus.alphas[{d}]"
            )
        sequences[domains == d] = distinct[:want]
    if len(np.unique(sequences, axis=0)) < n:  # two domains drew one sequence: vanishingly rare
        raise ConfigError("corpus: two domains drew the same sequence; change corpus.corpus_seed")
    rng = np.random.default_rng([_COUNTS_KEY, cfg.corpus_seed])
    counts = zipf_counts(rng, n, cfg.zipf_a, cfg.max_count)
    copies = np.repeat(np.arange(n), counts)
    stream = np.random.default_rng([_STREAM_KEY, cfg.corpus_seed]).permutation(copies)
    return DupCorpus(sequences, counts, stream.astype(np.int64), cfg.vocab_size, domains)


def load_pythia_memorized(
    split: str = "duped.1.4b", data_files: str | list[str] | None = None
) -> pd.DataFrame:
    """Memorized sequences of one Pythia model: a DataFrame with ``index`` and ``tokens``.

    Args:
        split: the hub split, one per model (``duped.1.4b``, ``deduped.1.4b``, ``duped.160m``,
            ...); ignored with ``data_files``.
        data_files: local parquet file(s) with the same columns; read instead of the hub.
    Returns:
        one row per memorized sequence: ``index`` (int64) and ``tokens`` (an int64 array of 64).
    """
    try:
        import datasets
    except ImportError:
        raise ConfigError(
            "the Pythia memorization data needs the optional extra: pip install -e '.[hf]'"
        ) from None
    if data_files is not None:
        ds = datasets.load_dataset("parquet", data_files=data_files, split="train")
    else:
        ds = datasets.load_dataset(PYTHIA_DATASET, split=split)
    missing = [c for c in PYTHIA_COLUMNS if c not in ds.column_names]
    if missing:
        raise ConfigError(
            f"Pythia memorization data lacks column(s) {', '.join(missing)}; has "
            f"{', '.join(ds.column_names)}; needs {', '.join(PYTHIA_COLUMNS)}"
        )
    df = ds.select_columns(list(PYTHIA_COLUMNS)).to_pandas()
    df["index"] = df["index"].astype(np.int64)
    df["tokens"] = [np.asarray(t, dtype=np.int64) for t in df["tokens"]]
    return df
