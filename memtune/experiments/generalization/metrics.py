"""Memorization, generalization and membership inference from per-sequence code lengths.

Pure numpy, no torch: the loop calls these at every evaluation and the analysis calls them
again on the stored per-sequence code lengths, so a figure in a table can always be recomputed.
Every function takes code lengths in bits (the model's, the source's), never a model, so the
exact source itself can be plugged in as a "model" (the tests' oracle).

Morris et al. (2025), section 3: unintended memorization of x by a model theta, with a
reference model standing for the true distribution, is mem_U(x) = max(0, H_ref(x) - H_theta(x)):
the bits theta saves on x beyond what knowing the distribution saves. memtune's reference is the
exact source, so mem_U is measured, not approximated.

Membership inference (MI) attacks score each sequence and call the high scores members: the
loss attack scores -L_model(x); the reference-calibrated attack L_source(x) - L_model(x) removes
what makes a sequence easy or hard under the source. Scored on the balanced training (members)
and held-out (non-members) sets, by AUROC and by the best F1 over all thresholds.
"""

from __future__ import annotations

import numpy as np


def unintended_memorization(source_bits: np.ndarray, model_bits: np.ndarray) -> np.ndarray:
    """mem_U per sequence: max(0, L_source - L_model), (n,) bits."""
    return np.maximum(0.0, np.asarray(source_bits, float) - np.asarray(model_bits, float))


def average_ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks of ``x``, ties given the mean of the ranks they span (as Mann-Whitney)."""
    x = np.asarray(x, dtype=float)
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)  # rank of the last member of each group of equal values
    mean_rank = ends - (counts - 1) / 2.0
    return mean_rank[inverse.reshape(-1)]


def auroc(members: np.ndarray, others: np.ndarray) -> float:
    """Area under the ROC curve of scores (higher = member), by ranks (Mann-Whitney U).

    The probability that a random member scores above a random non-member, ties counting one
    half: exact, no threshold grid.
    """
    members, others = np.asarray(members, float), np.asarray(others, float)
    n1, n0 = members.size, others.size
    if n1 == 0 or n0 == 0:
        return np.nan
    ranks = average_ranks(np.concatenate([members, others]))
    u = ranks[:n1].sum() - n1 * (n1 + 1) / 2.0
    return float(u / (n1 * n0))


def best_f1(members: np.ndarray, others: np.ndarray) -> float:
    """The best F1 over every threshold "score >= thr is a member" (members are positives).

    Thresholds at each distinct score, so the sweep is exact. Note the floor: calling every
    sequence a member gives F1 = 2/3 on balanced sets, so a useless attack's best F1 is >= 2/3,
    not 1/2 (``f1_at_median`` has the 1/2 floor).
    """
    members, others = np.asarray(members, float), np.asarray(others, float)
    if members.size == 0:
        return np.nan
    scores = np.concatenate([members, others])
    is_member = np.concatenate([np.ones(members.size), np.zeros(others.size)])
    order = np.argsort(-scores, kind="stable")
    s, y = scores[order], is_member[order]
    tp, called = np.cumsum(y), np.arange(1, s.size + 1)
    last = np.r_[s[1:] != s[:-1], True]  # a threshold takes all equal scores at once
    tp, called = tp[last], called[last]
    return float((2 * tp / (called + members.size)).max())


def f1_at_median(members: np.ndarray, others: np.ndarray) -> float:
    """F1 when the top half of the scores are called members (the balanced prior's threshold).

    A threshold fixed without looking at labels, so chance is 1/2 (as in Morris et al.'s
    Table 2, where their largest data set gives 54.6), where ``best_f1`` is at least 2/3.
    Ties at the median are broken by order (members first would flatter the attack, so
    non-members first).
    """
    members, others = np.asarray(members, float), np.asarray(others, float)
    n = members.size + others.size
    if members.size == 0 or others.size == 0:
        return np.nan
    scores = np.concatenate([others, members])
    is_member = np.concatenate([np.zeros(others.size), np.ones(members.size)])
    top = np.argsort(-scores, kind="stable")[: n // 2]
    tp = is_member[top].sum()
    return float(2 * tp / (top.size + members.size))


def generalization_summary(
    train_source: np.ndarray,
    train_model: np.ndarray,
    heldout_source: np.ndarray,
    heldout_model: np.ndarray,
    seq_len: int,
    train_floor: np.ndarray,
) -> dict[str, float]:
    """Every per-evaluation figure of the experiment, from per-sequence code lengths (bits).

    Args:
        train_source, train_model: (N,) L_source and L_model of the training sequences.
        heldout_source, heldout_model: (N,) the same for the held-out sequences.
        seq_len: T.
        train_floor: (N,) least code length any model can give each training sequence
            (``memtune.core.metrics.sequence_floor_bits``: log2 N when all are distinct).
    Returns:
        mem_u_bits (sum over training sequences), mem_u_bits_per_seq, mem_u_heldout_bits (the
        same statistic on held-out sequences: what chance alone gives, the noise floor of
        mem_U), mem_u_excess_bits (train minus held-out), memorizable_bits (sum of
        L_source - floor over the training set: mem_U of a perfect memorizer), memorized_share
        ((L_source - L_model) / (L_source - floor) on the training set: 1 = memorized, 0 = the
        source, < 0 worse), train/heldout loss and source bits per token, heldout_excess and
        train_excess (mean L_model - L_source, bits/token), data_bits (L_source of the training
        set: its information), and the MI figures auroc_loss, f1_loss, f1_median_loss,
        auroc_ref, f1_ref, f1_median_ref.
    """
    ts, tm = np.asarray(train_source, float), np.asarray(train_model, float)
    hs, hm = np.asarray(heldout_source, float), np.asarray(heldout_model, float)
    floor = np.asarray(train_floor, float)
    n, T = ts.size, seq_len
    mem = unintended_memorization(ts, tm)
    mem_held = unintended_memorization(hs, hm)
    gap = float((ts - floor).sum())
    return {
        "mem_u_bits": float(mem.sum()),
        "mem_u_bits_per_seq": float(mem.mean()),
        "mem_u_heldout_bits": float(mem_held.sum()),
        "mem_u_excess_bits": float(mem.sum() - mem_held.sum()),
        "memorizable_bits": gap,
        "memorized_share": float((ts - tm).sum()) / gap if gap > 0 else np.nan,
        "data_bits": float(ts.sum()),
        "train_loss_bits_per_token": float(tm.sum()) / (n * T),
        "heldout_loss_bits_per_token": float(hm.sum()) / (hm.size * T),
        "train_source_bits_per_token": float(ts.sum()) / (n * T),
        "heldout_source_bits_per_token": float(hs.sum()) / (hs.size * T),
        "train_excess_bits_per_token": float((tm - ts).mean()) / T,
        "heldout_excess_bits_per_token": float((hm - hs).mean()) / T,
        "auroc_loss": auroc(-tm, -hm),
        "f1_loss": best_f1(-tm, -hm),
        "f1_median_loss": f1_at_median(-tm, -hm),
        "auroc_ref": auroc(ts - tm, hs - hm),
        "f1_ref": best_f1(ts - tm, hs - hm),
        "f1_median_ref": f1_at_median(ts - tm, hs - hm),
    }


BOOT_COLUMNS = (
    "heldout_excess_ci95_half_bits_per_token",
    "mem_u_heldout_ci95_low_bits",
    "mem_u_heldout_ci95_high_bits",
    "mem_u_excess_ci95_half_bits",
)
N_BOOT = 1000  # bootstrap resamples per trial: the 95% quantiles to ~1% of their spread
BOOT_SEED = 0  # fixed, so a recomputed table is the same table


def bootstrap_intervals(
    train_source: np.ndarray,
    train_model: np.ndarray,
    heldout_source: np.ndarray,
    heldout_model: np.ndarray,
    seq_len: int,
    n_boot: int = N_BOOT,
    seed: int = BOOT_SEED,
) -> dict[str, float]:
    """95% bootstrap intervals over sequences of one trial's noisiest figures.

    The training and held-out sets are resampled independently (each with replacement, its own
    size), so each interval says how much the figure would move with other sequences of the same
    source: the noise floor a difference between two sizes must clear, besides the seeds'.

    Args:
        train_source, train_model: (N,) L_source and L_model of the training sequences, bits.
        heldout_source, heldout_model: (M,) the same for the held-out sequences.
        seq_len: T.
        n_boot: resamples.
        seed: the resampling stream.
    Returns:
        heldout_excess_ci95_half_bits_per_token (half the width of the interval of the mean
        held-out excess), mem_u_heldout_ci95_low_bits / _high_bits (the chance floor of mem_U,
        the held-out correction), mem_u_excess_ci95_half_bits (half the width of the interval of
        mem_U minus the held-out correction); nan for an empty set.
    """
    ts, tm = np.asarray(train_source, float), np.asarray(train_model, float)
    hs, hm = np.asarray(heldout_source, float), np.asarray(heldout_model, float)
    if ts.size == 0 or hs.size == 0:
        return dict.fromkeys(BOOT_COLUMNS, np.nan)
    rng = np.random.default_rng(seed)
    ti = rng.integers(0, ts.size, (n_boot, ts.size))
    hi = rng.integers(0, hs.size, (n_boot, hs.size))
    held_excess = ((hm - hs)[hi]).mean(axis=1) / seq_len
    mem_held = unintended_memorization(hs, hm)[hi].sum(axis=1)
    mem_excess = unintended_memorization(ts, tm)[ti].sum(axis=1) - mem_held
    q = (2.5, 97.5)
    he_lo, he_hi = np.percentile(held_excess, q)
    mh_lo, mh_hi = np.percentile(mem_held, q)
    me_lo, me_hi = np.percentile(mem_excess, q)
    return {
        "heldout_excess_ci95_half_bits_per_token": float(he_hi - he_lo) / 2,
        "mem_u_heldout_ci95_low_bits": float(mh_lo),
        "mem_u_heldout_ci95_high_bits": float(mh_hi),
        "mem_u_excess_ci95_half_bits": float(me_hi - me_lo) / 2,
    }
