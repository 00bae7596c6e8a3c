"""The generalization experiment's data: an exact source, its code lengths, and two splits.

Two sources (``SourceConfig.source``), each giving every sequence its exact probability, so the
oracle that Morris et al. approximate with a large model is exact here:

- ``markov``: ``memtune.core.corpus``'s Markov language (``make_language``). A sequence
  x = (x_1 .. x_T) costs

      L_source(x) = -log2 pi(x_1) - sum_{t=2..T} log2 P(x_t | x_{t-1})   bits,

  the first token from the stationary distribution pi (how the sequences are drawn), every
  later one from the transition row of its predecessor.
- ``hmm``: a hidden Markov source (``HiddenMarkovSource``): a hidden state s_t follows a Markov
  chain (s_1 from its stationary distribution), and each x_t is emitted from state s_t's own
  distribution. p(x) = sum over hidden paths, computed exactly by the forward algorithm
  (``hmm_token_bits``, scaled: each step's normaliser is p(x_t | x_<t), so no underflow).

Models read a BOS token first (``memtune.core.data.with_bos``) and so code all T tokens too: the
two code lengths count the same tokens.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from memtune.core.config import CorpusConfig
from memtune.core.corpus import (
    MarkovLanguage,
    entropy_rate_bits,
    first_token_entropy_bits,
    make_language,
    sample_documents,
    source_token_probs,
)
from memtune.experiments.generalization.config import SourceConfig

_HMM_KEY = 3_100  # random streams of the hidden Markov source, apart from corpus.py's
_HMM_DOCS_KEY = 3_101
_HMM_ESTIMATE_KEY = 3_102  # the Monte Carlo sample behind the HMM's expected code length
ESTIMATE_SEQS = 4096  # sequences behind it: its standard error is ~0.2% of E[L_source]
RATE_LEN = 256  # the HMM's rate is read at positions RATE_LEN/2 .. RATE_LEN: long contexts


@dataclass(frozen=True)
class HiddenMarkovSource:
    """A hidden Markov source: states follow ``transition``, each emits from its own row."""

    initial: np.ndarray  # (S,) stationary distribution of the hidden chain: s_1's distribution
    transition: np.ndarray  # (S, S) rows P(s_{t+1} | s_t)
    emission: np.ndarray  # (S, V) rows P(x_t | s_t)

    @property
    def vocab_size(self) -> int:
        return self.emission.shape[1]


Source = MarkovLanguage | HiddenMarkovSource


def make_hmm(cfg: SourceConfig) -> HiddenMarkovSource:
    """The HMM of ``cfg``: emission rows ~ Dirichlet(alpha) over V symbols; the hidden chain
    stays with ``stay_prob`` and otherwise moves to one of the other states uniformly (so its
    stationary distribution is uniform); keyed by language_seed, V and the number of states."""
    S, V = cfg.n_states, cfg.vocab_size
    rng = np.random.default_rng([_HMM_KEY, cfg.language_seed, V, S])
    emission = rng.dirichlet(np.full(V, cfg.alpha), size=S)
    emission = np.maximum(emission, 1e-12)  # Dirichlet draws can underflow to 0 for tiny alpha
    emission /= emission.sum(axis=1, keepdims=True)
    transition = np.full((S, S), (1.0 - cfg.stay_prob) / (S - 1))
    np.fill_diagonal(transition, cfg.stay_prob)
    return HiddenMarkovSource(np.full(S, 1.0 / S), transition, emission)


def make_source(cfg: SourceConfig) -> Source:
    """The source of ``cfg``. The Markov language is the same draw as the corpus of the scaling
    experiment with the same vocab_size, alpha and language_seed."""
    if cfg.source == "hmm":
        return make_hmm(cfg)
    return make_language(
        CorpusConfig(vocab_size=cfg.vocab_size, alpha=cfg.alpha, language_seed=cfg.language_seed)
    )


def _inverse_cdf(cdf: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Row-wise inverse-CDF draws: the index of the first cdf entry above each uniform.

    Args:
        cdf: (n, K) cumulative rows.
        u: (n,) uniforms.
    """
    return np.minimum((cdf <= u[:, None]).sum(axis=1), cdf.shape[1] - 1)


def sample_hmm(src: HiddenMarkovSource, n: int, seq_len: int, seed: int) -> np.ndarray:
    """``n`` sequences, (n, seq_len) int64, by inverse-CDF sampling of two uniforms per token
    (the hidden state's and the symbol's), drawn as one (n, seq_len, 2) block: the first k
    sequences are the same for every n >= k, as ``sample_documents``'s are."""
    rng = np.random.default_rng([_HMM_DOCS_KEY, seed, src.vocab_size, seq_len])
    u = rng.random((n, seq_len, 2))
    trans_cdf, emit_cdf = np.cumsum(src.transition, axis=1), np.cumsum(src.emission, axis=1)
    init_cdf = np.broadcast_to(np.cumsum(src.initial), (n, src.initial.size))
    docs = np.empty((n, seq_len), dtype=np.int64)
    state = _inverse_cdf(init_cdf, u[:, 0, 0])
    for t in range(seq_len):
        if t:
            state = _inverse_cdf(trans_cdf[state], u[:, t, 0])
        docs[:, t] = _inverse_cdf(emit_cdf[state], u[:, t, 1])
    return docs


def hmm_token_bits(src: HiddenMarkovSource, docs: np.ndarray) -> np.ndarray:
    """-log2 p(x_t | x_<t) of every token under the HMM, (n, T) float64 bits (scaled forward).

    The forward variable a_t(s) = p(s_t = s | x_<=t) is renormalised at each step; the
    normaliser c_t = sum_s (a_{t-1} A)(s) E(s, x_t) is exactly p(x_t | x_<t), so the sum of
    -log2 c_t is -log2 p(x) with no underflow at any T (Rabiner 1989, sec. V.A).

    Args:
        src: the source.
        docs: (n, T) int64 sequences.
    """
    n, T = docs.shape
    bits = np.empty((n, T), dtype=np.float64)
    prior = np.broadcast_to(src.initial, (n, src.initial.size))  # p(s_1), then p(s_t | x_<t)
    for t in range(T):
        joint = prior * src.emission[:, docs[:, t]].T  # (n, S): p(s_t, x_t | x_<t)
        c = joint.sum(axis=1)
        bits[:, t] = -np.log2(c)
        prior = (joint / c[:, None]) @ src.transition
    return bits


def make_splits(src: Source, n_seqs: int, seq_len: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """N training and N held-out sequences, each (N, T) int64, from one seeded draw.

    The 2N sequences are drawn as one block (the first k rows are the same for every size),
    training takes the even rows and held-out the odd ones, so a smaller data set is a subset
    of a larger one of the same seed: sizes differ in size only.
    """
    if isinstance(src, HiddenMarkovSource):
        docs = sample_hmm(src, 2 * n_seqs, seq_len, seed)
    else:
        docs = sample_documents(src, 2 * n_seqs, seq_len, seed)
    return docs[0::2].copy(), docs[1::2].copy()


def source_code_lengths(src: Source, docs: np.ndarray) -> np.ndarray:
    """L_source of each sequence, (n,) float64 bits: the exact code length under the source.

    Args:
        src: the source.
        docs: (n, T) int64 sequences.
    Returns:
        (n,) -sum_t log2 p_source(x_t | x_<t) (Markov: the first token from the stationary
        distribution; HMM: the forward algorithm).
    """
    if isinstance(src, HiddenMarkovSource):
        return hmm_token_bits(src, docs).sum(axis=1)
    return -np.log2(source_token_probs(src, docs)).sum(axis=1)


def expected_sequence_bits(src: Source, seq_len: int) -> float:
    """E[L_source] of one sequence of ``seq_len`` tokens, in bits.

    Markov: H(pi) + (T - 1) h, exact. HMM: no closed form, so the mean code length of
    ESTIMATE_SEQS sequences from a fixed stream (the same figure in every trial); it only places
    the crossing N* (already an estimate through capacity_bpp), every code length stays exact.
    """
    if isinstance(src, HiddenMarkovSource):
        docs = sample_hmm(src, ESTIMATE_SEQS, seq_len, _HMM_ESTIMATE_KEY)
        return float(source_code_lengths(src, docs).mean())
    return first_token_entropy_bits(src) + (seq_len - 1) * entropy_rate_bits(src)


def source_rate_bits(src: Source) -> float:
    """The source's entropy rate h, bits/token. Markov: exact. HMM: the mean of -log2
    p(x_t | x_<t) over positions RATE_LEN/2 .. RATE_LEN of ESTIMATE_SEQS / 4 sequences (a
    Monte Carlo estimate at contexts of 128+ tokens)."""
    if isinstance(src, HiddenMarkovSource):
        docs = sample_hmm(src, ESTIMATE_SEQS // 4, RATE_LEN, _HMM_ESTIMATE_KEY)
        return float(hmm_token_bits(src, docs)[:, RATE_LEN // 2 :].mean())
    return entropy_rate_bits(src)
