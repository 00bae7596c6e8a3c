"""Documents for the memorization scaling law: seed sets with target and control documents.

A seed set of D tokens is D / doc_len documents. Documents come from one source in a seeded
order; the first ``n_targets`` are the targets z, the next ``n_controls`` the controls, and the
rest filler. A seed set holds the targets and the first D / doc_len - n_targets filler documents,
so every seed set of a sweep contains the same targets, smaller seed sets are subsets of larger
ones (the sizes differ in size only, not in which documents were drawn), and the controls are
never trained on. Everything is fully determined by the corpus config and the seed.

Sources (``CorpusConfig.source``):

- ``markov`` (the offline default): a generated language, a first-order Markov chain over V
  symbols whose transition rows are drawn from Dirichlet(alpha). We chose it over real text for
  the default because its entropy is known exactly (``entropy_rate_bits``) and so is the
  probability the true source gives each document: ``mean_pz_source`` is where a model that
  generalized perfectly and memorized nothing would sit, on targets and controls alike, and
  anything a model puts on the targets above that was memorized. It also has no duplicated or
  near-duplicated documents (which in real text leak target content into controls) and scales
  to any seed-set size offline, the paper's 100M tokens included.
- ``pydoc``: real English prose that ships with CPython (``pydoc_data.topics``, the language
  reference behind ``help()``, ~465K bytes), byte-level. Real text, but small and of unknown
  entropy; useful to check that a result is not an artifact of the generated language.
- ``text``: the user's own UTF-8 files, byte-level.
- ``hf``: a Hugging Face dataset, streamed and shuffled with the seed, byte-level. Needs the
  optional extra (``pip install -e ".[hf]"``) and the hub; it is never called by the tests.

    python -c "from memtune.core.corpus import make_seed_set; from memtune.core.config import \
CorpusConfig; s = make_seed_set(CorpusConfig(), 4096, seed=0); print(s.train.shape)"
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from memtune.core.config import ConfigError, CorpusConfig

_LANGUAGE_KEY = 3_000  # separate random streams for the language and its documents
_DOCS_KEY = 3_001
HF_SHUFFLE_BUFFER = 10_000  # rows held by the streaming shuffle of a Hugging Face dataset
HF_SEPARATOR = b"\n\n"  # between rows of a Hugging Face dataset before chunking


@dataclass(frozen=True)
class MarkovLanguage:
    """A first-order Markov chain; documents start from its stationary distribution."""

    initial: np.ndarray  # (V,) stationary distribution pi
    transition: np.ndarray  # (V, V) rows P(next | current)

    @property
    def vocab_size(self) -> int:
        return self.transition.shape[0]


def make_language(cfg: CorpusConfig) -> MarkovLanguage:
    """The language of ``cfg``: transition rows ~ Dirichlet(alpha), keyed by language_seed."""
    rng = np.random.default_rng([_LANGUAGE_KEY, cfg.language_seed, cfg.vocab_size])
    V = cfg.vocab_size
    trans = rng.dirichlet(np.full(V, cfg.alpha), size=V)
    trans = np.maximum(trans, 1e-12)  # Dirichlet draws can underflow to 0 for tiny alpha
    trans /= trans.sum(axis=1, keepdims=True)
    # stationary distribution: the left eigenvector of eigenvalue 1
    vals, vecs = np.linalg.eig(trans.T)
    pi = np.abs(np.real(vecs[:, np.argmin(np.abs(vals - 1.0))]))
    return MarkovLanguage(initial=pi / pi.sum(), transition=trans)


def entropy_rate_bits(lang: MarkovLanguage) -> float:
    """H = -sum_i pi_i sum_j P_ij log2 P_ij, bits per token of a stationary document."""
    P = lang.transition
    return float(-(lang.initial[:, None] * P * np.log2(P)).sum())


def first_token_entropy_bits(lang: MarkovLanguage) -> float:
    """H(pi): the first token of a document has no predecessor to condition on."""
    pi = lang.initial
    return float(-(pi * np.log2(pi)).sum())


def sample_documents(lang: MarkovLanguage, n: int, doc_len: int, seed: int) -> np.ndarray:
    """``n`` documents, (n, doc_len) int64, by inverse-CDF sampling of one uniform per token.

    The uniforms are drawn as one (n, doc_len) block, row by row, so the first k documents are
    the same for every n >= k: seed sets of different sizes share their documents.
    """
    rng = np.random.default_rng([_DOCS_KEY, seed, lang.vocab_size, doc_len])
    u = rng.random((n, doc_len))
    V = lang.vocab_size
    cdf0 = np.cumsum(lang.initial)
    cdf = np.cumsum(lang.transition, axis=1)  # (V, V)
    docs = np.empty((n, doc_len), dtype=np.int64)
    docs[:, 0] = np.minimum(np.searchsorted(cdf0, u[:, 0], side="right"), V - 1)
    for t in range(1, doc_len):
        rows = cdf[docs[:, t - 1]]  # (n, V)
        docs[:, t] = np.minimum((rows <= u[:, t : t + 1]).sum(axis=1), V - 1)
    return docs


def source_token_probs(lang: MarkovLanguage, docs: np.ndarray) -> np.ndarray:
    """The true probability of each token given the ones before it, (n, doc_len)."""
    p = np.empty(docs.shape, dtype=np.float64)
    p[:, 0] = lang.initial[docs[:, 0]]
    p[:, 1:] = lang.transition[docs[:, :-1], docs[:, 1:]]
    return p


def read_text_files(paths: tuple[str, ...]) -> bytes:
    """The files' bytes, concatenated in the given order with a blank line between them."""
    parts = []
    for p in paths:
        path = Path(p).expanduser()
        if not path.is_file():
            raise ConfigError(f"corpus.paths: {p} is not a readable file")
        parts.append(path.read_bytes())
    return b"\n\n".join(parts)


def pydoc_text() -> bytes:
    """CPython's language reference topics (``pydoc_data.topics``), sorted by topic name."""
    try:
        from pydoc_data.topics import topics
    except ImportError:  # some distributions split pydoc_data into its own package
        raise ConfigError(
            "corpus.source='pydoc' needs the standard library's pydoc_data module, which this "
            "Python lacks; use corpus.source='markov' or 'text'"
        ) from None
    return "\n\n".join(topics[k] for k in sorted(topics)).encode("utf-8")


def hf_text(cfg: CorpusConfig, seed: int, n_bytes: int) -> bytes:
    """At least ``n_bytes`` of text from a Hugging Face dataset, rows shuffled by ``seed``.

    Streams the dataset (nothing beyond the rows used is downloaded) through a seeded shuffle
    buffer, so the rows, and hence the documents, are fixed by (dataset revision, seed).
    """
    try:
        import datasets
    except ImportError:
        raise ConfigError(
            "corpus.source='hf' needs the optional extra: pip install -e '.[hf]'"
        ) from None
    ds = datasets.load_dataset(
        cfg.hf_dataset, cfg.hf_config or None, split=cfg.hf_split, streaming=True
    )
    ds = ds.shuffle(seed=seed, buffer_size=HF_SHUFFLE_BUFFER)
    parts, total = [], 0
    for row in ds:
        if cfg.hf_text_field not in row:
            raise ConfigError(
                f"corpus.hf_text_field {cfg.hf_text_field!r} is not a column of "
                f"{cfg.hf_dataset}; columns: {', '.join(row)}"
            )
        b = str(row[cfg.hf_text_field]).encode("utf-8")
        parts.append(b)
        total += len(b) + len(HF_SEPARATOR)
        if total >= n_bytes:
            break
    return HF_SEPARATOR.join(parts)


def chunk_documents(data: bytes, doc_len: int) -> np.ndarray:
    """Non-overlapping byte documents, (n, doc_len) int64, duplicates dropped (first kept).

    Dropping duplicates keeps a control from being a verbatim copy of a training document.
    """
    n = len(data) // doc_len
    arr = np.frombuffer(data[: n * doc_len], dtype=np.uint8).reshape(n, doc_len)
    _, first = np.unique(arr, axis=0, return_index=True)
    return arr[np.sort(first)].astype(np.int64)


@dataclass(frozen=True)
class SeedSet:
    """A seed set and its evaluation documents, all (n, doc_len) int64 tensors."""

    train: torch.Tensor  # (N, T): the targets first, then filler (training shuffles them)
    targets: torch.Tensor  # (n_targets, T): the documents z, inside ``train``
    controls: torch.Tensor  # (n_controls, T): same source, never in ``train``
    vocab_size: int
    # markov only: the true token probabilities and the language's entropy
    targets_source_probs: np.ndarray | None = None  # (n_targets, T)
    controls_source_probs: np.ndarray | None = None  # (n_controls, T)
    entropy_bits: float | None = None  # bits per token


def make_seed_set(cfg: CorpusConfig, seed_set_tokens: int, seed: int) -> SeedSet:
    """The seed set of ``seed_set_tokens`` tokens for ``seed``, with its targets and controls.

    Args:
        cfg: the corpus.
        seed_set_tokens: D, a multiple of ``cfg.doc_len`` holding more than n_targets documents.
        seed: draws the documents (for text sources: their order).
    Returns:
        SeedSet with train (D / doc_len, doc_len), targets (n_targets, doc_len) and controls
        (n_controls, doc_len).
    """
    T = cfg.doc_len
    if seed_set_tokens % T or seed_set_tokens // T <= cfg.n_targets:
        raise ConfigError(
            f"seed_set_tokens ({seed_set_tokens}) must be a multiple of corpus.doc_len ({T}) "
            f"holding more than corpus.n_targets ({cfg.n_targets}) documents"
        )
    n_train = seed_set_tokens // T
    n_eval = cfg.n_targets + cfg.n_controls
    n_docs = n_train + cfg.n_controls
    extra: dict = {}
    if cfg.source == "markov":
        lang = make_language(cfg)
        docs = sample_documents(lang, n_docs, T, seed)
        extra = {
            "targets_source_probs": source_token_probs(lang, docs[: cfg.n_targets]),
            "controls_source_probs": source_token_probs(lang, docs[cfg.n_targets : n_eval]),
            "entropy_bits": entropy_rate_bits(lang),
        }
    else:
        if cfg.source == "pydoc":
            data = pydoc_text()
        elif cfg.source == "text":
            data = read_text_files(cfg.paths)
        else:
            data = hf_text(cfg, seed, n_bytes=math.ceil(n_docs * T * 1.05) + T)
        pool = chunk_documents(data, T)
        if len(pool) < n_docs:
            raise ConfigError(
                f"corpus.source={cfg.source!r} gives {len(pool)} distinct documents of "
                f"{T} tokens; seed_set_tokens={seed_set_tokens} with corpus.n_controls="
                f"{cfg.n_controls} needs {n_docs}"
            )
        if cfg.source == "hf":
            docs = pool[:n_docs]  # already in the seeded stream order
        else:
            order = np.random.default_rng([_DOCS_KEY, seed, T]).permutation(len(pool))
            docs = pool[order[:n_docs]]
    docs_t = torch.from_numpy(np.ascontiguousarray(docs))
    train = torch.cat([docs_t[: cfg.n_targets], docs_t[n_eval:]])
    return SeedSet(
        train=train,
        targets=docs_t[: cfg.n_targets],
        controls=docs_t[cfg.n_targets : n_eval],
        vocab_size=cfg.token_vocab_size,
        **extra,
    )
