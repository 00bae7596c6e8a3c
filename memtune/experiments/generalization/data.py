"""The generalization experiment's data: a Markov source with exact code lengths, two splits.

The source is ``memtune.core.corpus``'s Markov language (``make_language``), so the probability
it gives every sequence is known: the oracle that Morris et al. approximate with a large model
is exact here. A sequence x = (x_1 .. x_T) costs

    L_source(x) = -log2 pi(x_1) - sum_{t=2..T} log2 P(x_t | x_{t-1})   bits,

the first token from the stationary distribution pi (how the sequences are drawn), every later
one from the transition row of its predecessor. Models read a BOS token first
(``memtune.core.data.with_bos``) and so code all T tokens too: the two code lengths count the
same tokens.
"""

from __future__ import annotations

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


def make_source(cfg: SourceConfig) -> MarkovLanguage:
    """The Markov language of ``cfg`` (the same draw as the corpus of the scaling experiment
    with the same vocab_size, alpha and language_seed)."""
    return make_language(
        CorpusConfig(vocab_size=cfg.vocab_size, alpha=cfg.alpha, language_seed=cfg.language_seed)
    )


def expected_sequence_bits(lang: MarkovLanguage, seq_len: int) -> float:
    """E[L_source] of one sequence of ``seq_len`` tokens: H(pi) + (T - 1) h, in bits."""
    return first_token_entropy_bits(lang) + (seq_len - 1) * entropy_rate_bits(lang)


def make_splits(
    lang: MarkovLanguage, n_seqs: int, seq_len: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """N training and N held-out sequences, each (N, T) int64, from one seeded draw.

    The 2N sequences are drawn as one block (``sample_documents``: the first k rows are the
    same for every size), training takes the even rows and held-out the odd ones, so a
    smaller data set is a subset of a larger one of the same seed: sizes differ in size only.
    """
    docs = sample_documents(lang, 2 * n_seqs, seq_len, seed)
    return docs[0::2].copy(), docs[1::2].copy()


def source_code_lengths(lang: MarkovLanguage, docs: np.ndarray) -> np.ndarray:
    """L_source of each sequence, (n,) float64 bits: the exact code length under the source.

    Args:
        lang: the source.
        docs: (n, T) int64 sequences.
    Returns:
        (n,) -sum_t log2 p_source(x_t | x_<t), the first token from the stationary distribution.
    """
    return -np.log2(source_token_probs(lang, docs)).sum(axis=1)
