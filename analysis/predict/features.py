"""Features of training sequences for predicting memorization (seed 003), from the data alone.

Each feature is a small numpy function of the sequences, the corpus they come from, or a
reference model's token log-probabilities; none looks at the target model. ``build_features``
puts them into one table. Sequences are rows of int arrays of equal length; ``counts`` are the
copies of each distinct sequence in the corpus, so corpus statistics weigh a sequence by how
often training sees it, as statistics of the Pile would.

    python -c "from analysis.predict.features import zlib_ratio; import numpy as np; \
print(zlib_ratio(np.zeros((1, 64), int)), zlib_ratio(np.arange(64)[None]))"
"""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd

NGRAM_N = 4  # n of the corpus n-gram frequency: 16^4 = 65K possible 4-grams at V = 16
REPEAT_N = 3  # n of the in-sequence repetition: 3-grams repeat by chance rarely at V = 16


def duplicate_counts(rows: np.ndarray) -> np.ndarray:
    """How many rows of a corpus equal each row (itself included), (M,) int64.

    Why: a sequence seen c times gets c times the gradient; Biderman et al. and Carlini et al.
    find memorization rises steeply with duplication.
    """
    rows = np.asarray(rows)
    _, inverse, counts = np.unique(rows, axis=0, return_inverse=True, return_counts=True)
    return counts[inverse.reshape(-1)].astype(np.int64)


def _ngram_codes(seqs: np.ndarray, n: int) -> np.ndarray:
    """Each n-gram of each sequence as one integer, (N, T - n + 1); rows are int sequences."""
    seqs = np.asarray(seqs, dtype=np.int64)
    base = int(seqs.max()) + 1 if seqs.size else 1
    if n * np.log2(max(base, 2)) >= 62:
        raise ValueError(f"{n}-grams over {base} symbols do not fit one int64 code")
    codes = np.zeros((seqs.shape[0], seqs.shape[1] - n + 1), dtype=np.int64)
    for j in range(n):
        codes = codes * base + seqs[:, j : seqs.shape[1] - n + 1 + j]
    return codes


def ngram_log_frequency(
    seqs: np.ndarray, counts: np.ndarray, n: int = NGRAM_N, exclude_self: bool = False
) -> np.ndarray:
    """Mean over a sequence's n-grams of log(1 + their occurrences in the corpus), (N,).

    Occurrences count every copy of every sequence. With ``exclude_self`` the sequence's own
    copies are left out, so the feature says how common its pieces are elsewhere, apart from
    its duplication.

    Why: text made of common pieces needs fewer new bits to store; common n-grams are what a
    model learns first, so a sequence built from them is closer to being reproduced.
    """
    counts = np.asarray(counts, dtype=np.int64)
    codes = _ngram_codes(seqs, n)  # (N, G)
    uniq, inverse = np.unique(codes, return_inverse=True)
    inverse = inverse.reshape(codes.shape)
    weights = np.repeat(counts, codes.shape[1])
    total = np.bincount(inverse.ravel(), weights=weights, minlength=len(uniq))  # corpus counts
    occ = total[inverse]  # (N, G)
    if exclude_self:
        # occurrences of each n-gram inside the sequence itself, times its copies
        own = np.zeros_like(occ)
        for i in range(codes.shape[0]):
            _, inv_i, c_i = np.unique(codes[i], return_inverse=True, return_counts=True)
            own[i] = c_i[inv_i] * counts[i]
        occ = occ - own
    return np.log1p(occ).mean(axis=1)


def surprisal_stats(logprobs: np.ndarray) -> dict[str, np.ndarray]:
    """Mean, min and std of each sequence's token log-probabilities under a reference model.

    Args:
        logprobs: (N, T) log p(x_t | x_<t) in nats.
    Returns:
        ``logp_mean``, ``logp_min``, ``logp_std``, each (N,).

    Why: a sequence the small model already predicts well (high mean) holds few bits for the
    large one to store; its one hardest token (min) is where greedy decoding is likeliest to
    leave the suffix.
    """
    lp = np.asarray(logprobs, dtype=np.float64)
    return {"logp_mean": lp.mean(axis=1), "logp_min": lp.min(axis=1), "logp_std": lp.std(axis=1)}


def zlib_ratio(seqs: np.ndarray) -> np.ndarray:
    """Compressed over raw size of each sequence under zlib (level 9), (N,); lower = more regular.

    Tokens are packed as one byte each below 256 symbols, two bytes otherwise (Pythia's 50K).
    Why: Carlini et al. (2021) rank extracted text by zlib entropy; compressible text is cheap to
    store.
    """
    seqs = np.asarray(seqs)
    dtype = np.uint8 if seqs.max(initial=0) < 256 else np.uint16
    return np.array(
        [len(zlib.compress(r.astype(dtype).tobytes(), 9)) / r.astype(dtype).nbytes for r in seqs]
    )


def repetition(seqs: np.ndarray, n: int = REPEAT_N) -> np.ndarray:
    """Share of a sequence's n-grams that repeat an earlier n-gram of the same sequence, (N,).

    0 when every n-gram is new, close to 1 for a loop. Why: a sequence that repeats itself can
    be continued by copying from its own prefix, which attention does without memorizing.
    """
    codes = _ngram_codes(seqs, n)
    return np.array([1.0 - len(np.unique(c)) / len(c) for c in codes])


def token_rarity(seqs: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Mean unigram surprisal -log p(token) of a sequence's tokens, p from the whole corpus, (N,).

    Why: rare tokens have poorly trained embeddings and are the hard steps of a continuation;
    they also mark unusual content that a model can only reproduce by storing it.
    """
    seqs = np.asarray(seqs, dtype=np.int64)
    freq = np.bincount(seqs.ravel(), weights=np.repeat(counts, seqs.shape[1]))
    p = freq / freq.sum()
    return -np.log(p[seqs]).mean(axis=1)


def domain_indicators(domains: np.ndarray) -> dict[str, np.ndarray]:
    """One 0/1 column ``domain_<d>`` per source domain (the seed's Pile subset), (N,) each.

    Why: domains differ in how predictable their text is (code and legal boilerplate against
    prose), so a domain can be memorized more at the same duplication.
    """
    domains = np.asarray(domains)
    return {f"domain_{d}": (domains == d).astype(np.float64) for d in np.unique(domains)}


def build_features(corpus: pd.DataFrame, logprobs: np.ndarray | None) -> pd.DataFrame:
    """Every feature of every distinct sequence of a corpus table, one row per seq_id.

    Args:
        corpus: seq_id, tokens (arrays of equal length), count (copies in the corpus) and
            position (last copy's place in the training stream, 0..1).
        logprobs: (N, T) reference-model log-probabilities in the corpus table's row order, or
            None to leave out the surprisal features.
    Returns:
        seq_id and the feature columns (``FEATURES`` order, surprisal ones when given), then a
        ``domain_<d>`` indicator per domain when the corpus has more than one.
    """
    seqs = np.stack(corpus["tokens"].to_numpy()).astype(np.int64)
    counts = corpus["count"].to_numpy(np.int64)
    feats = {
        "seq_id": corpus["seq_id"].to_numpy(),
        "log_count": np.log(counts),
        "ngram_logfreq": ngram_log_frequency(seqs, counts),
        "ngram_logfreq_other": ngram_log_frequency(seqs, counts, exclude_self=True),
        "zlib_ratio": zlib_ratio(seqs),
        "repetition": repetition(seqs),
        "token_rarity": token_rarity(seqs, counts),
        "position": corpus["position"].to_numpy(np.float64),
    }
    if "domain" in corpus and corpus["domain"].nunique() > 1:
        feats.update(domain_indicators(corpus["domain"].to_numpy()))
    if logprobs is not None:
        feats.update(surprisal_stats(logprobs))
    return pd.DataFrame(feats)


FEATURES = (
    "log_count",
    "ngram_logfreq",
    "ngram_logfreq_other",
    "zlib_ratio",
    "repetition",
    "token_rarity",
    "position",
    "logp_mean",
    "logp_min",
    "logp_std",
)
