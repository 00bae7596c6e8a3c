"""Target models of the memorization-prediction experiment (seed 003): plain torch, no Ray.

``train_predict(cfg, report)`` trains a GPT on the stream of a corpus with duplicates
(``data.py``) and, at ``cfg.n_evals`` checkpoints, labels every distinct training sequence with
the k-extractable rule of Biderman et al. (2023, "Emergent and predictable memorization in
large language models"): a sequence of ``prefix_len + suffix_len`` tokens is
memorized when greedy decoding from its first ``prefix_len`` tokens reproduces the next
``suffix_len`` exactly; its memorization score is the fraction of those ``suffix_len`` positions
where the greedy continuation matches. At the last checkpoint it also stores every token's
log-probability: a smaller model's log-probabilities are the surprisal features of the analysis
(``analysis.predict``), which picks which trial is the reference; the target model's are never
used as features.

    python -c "from memtune.experiments.predict.loop import train_predict; \
from memtune.experiments.predict.config import PredictConfig; \
print(train_predict(PredictConfig(max_steps=200, n_evals=2))['labels'].tail())"
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import torch

from memtune.core.data import with_bos
from memtune.core.loop import LoopMeter, LoopState, TablesCheckpoint
from memtune.core.metrics import evaluating, token_log_probs
from memtune.core.models import build_model, count_params
from memtune.core.optim import lr_at, make_optimizer, optimizer_step
from memtune.experiments.predict.config import PredictConfig
from memtune.experiments.predict.data import make_dup_corpus

# report(metrics, tables): tables is None except at the last checkpoint, where it maps a file
# stem to a table for the caller to persist (the Tune trainable writes them into a checkpoint).
Report = Callable[[dict[str, Any], "TablesCheckpoint | None"], None]
LanguageModel = Callable[[torch.Tensor], torch.Tensor]  # (B, T) ids -> (B, T, V) logits
DECODE_CHUNK = 1024  # sequences decoded at once; bounds memory


@torch.no_grad()
def greedy_continuation(
    model: LanguageModel, prefixes: torch.Tensor, n_new: int, bos_id: int
) -> torch.Tensor:
    """Greedy decoding: the ``n_new`` tokens a model emits after [BOS] + prefix.

    Args:
        model: maps input ids (B, T) to next-token logits (B, T, V).
        prefixes: (B, k) int64 prompts.
        n_new: tokens to generate.
        bos_id: the id the model reads before the first token.
    Returns:
        (B, n_new) int64 generated tokens (argmax at each step, fed back in).
    """
    bos = torch.full((prefixes.size(0), 1), bos_id, dtype=prefixes.dtype, device=prefixes.device)
    x = torch.cat([bos, prefixes], dim=1)
    for _ in range(n_new):
        nxt = model(x)[:, -1].argmax(dim=-1, keepdim=True)  # (B, 1)
        x = torch.cat([x, nxt], dim=1)
    return x[:, 1 + prefixes.size(1) :]


@torch.no_grad()
def extraction_labels(
    model: LanguageModel, sequences: torch.Tensor, prefix_len: int, bos_id: int
) -> tuple[np.ndarray, np.ndarray]:
    """k-extractable labels and memorization scores of sequences (Biderman et al. 2023).

    Args:
        model: maps (B, T) ids to (B, T, V) logits; put it in eval mode first.
        sequences: (N, prefix_len + suffix_len) int64.
        prefix_len: the prompt length k; the rest of each sequence is the suffix to reproduce.
        bos_id: the id the model reads before the first token.
    Returns:
        extractable (N,) bool: the greedy continuation equals the suffix exactly;
        score (N,) float: the fraction of suffix positions where it matches.
    """
    n_new = sequences.size(1) - prefix_len
    scores = []
    for i in range(0, sequences.size(0), DECODE_CHUNK):
        chunk = sequences[i : i + DECODE_CHUNK]
        gen = greedy_continuation(model, chunk[:, :prefix_len], n_new, bos_id)
        scores.append((gen == chunk[:, prefix_len:]).float().mean(dim=1))
    score = torch.cat(scores).cpu().numpy().astype(np.float64)
    return score == 1.0, score


@torch.no_grad()
def sequence_log_probs(model: LanguageModel, sequences: torch.Tensor, bos_id: int) -> np.ndarray:
    """log p(x_t | x_<t) of every token, the first one predicted from BOS, (N, T) float32 nats."""
    out = []
    for i in range(0, sequences.size(0), DECODE_CHUNK):
        x = sequences[i : i + DECODE_CHUNK]
        out.append(token_log_probs(model(with_bos(x, bos_id)), x))
    return torch.cat(out).cpu().numpy()


def train_predict(
    cfg: PredictConfig, report: Report | None = None, device: str = "cpu"
) -> dict[str, pd.DataFrame]:
    """Train on the corpus stream, labelling every distinct sequence at each checkpoint.

    Step s trains on stream positions s*B .. s*B + B - 1 (mod the stream length): the stream is
    read in one fixed order, epoch after epoch, like a pretraining corpus seen several times.

    Args:
        cfg: the trial's configuration.
        report: called as report(metrics, tables) at each checkpoint; tables is not None at the
            last one.
        device: where to train.
    Returns:
        the tables of the last report: ``labels`` (seq_id, step, extractable, mem_score; one
        row per sequence and checkpoint), ``token_logprobs`` (seq_id, logprobs: T floats, at
        the last checkpoint) and ``corpus`` (seq_id, tokens, count, position).
    """
    report = report or (lambda metrics, tables: None)
    corpus = make_dup_corpus(cfg.corpus)
    torch.manual_seed(cfg.seed)
    k, T = cfg.corpus.prefix_len, cfg.corpus.seq_len
    model = build_model(cfg.model, vocab_size=corpus.vocab_size, block_size=T)
    n_params = count_params(model)
    model.to(device)
    seqs = torch.from_numpy(corpus.sequences).to(device)  # (U, T)
    inputs = with_bos(seqs, model.bos_id)
    stream = torch.from_numpy(corpus.stream).to(device)
    M, B = stream.numel(), cfg.optim.batch_size
    offsets = torch.arange(B, device=device)
    peak = cfg.optim.peak_lr(cfg.model.d_model)
    opt = make_optimizer(model, cfg.optim, lr_at(0, peak, cfg.optim, cfg.max_steps))
    dup = corpus.counts > 1
    due = set(cfg.eval_steps)
    labels: list[pd.DataFrame] = []
    state = LoopState()  # no resumable checkpoints: the state only keeps time
    meter = LoopMeter(state, device)
    model.train()
    for step in range(1, cfg.max_steps + 1):
        idx = stream[((step - 1) * B + offsets) % M]
        lr = lr_at(step - 1, peak, cfg.optim, cfg.max_steps)
        meter.add(
            optimizer_step(opt, model, model(inputs[idx]), seqs[idx], lr, cfg.optim.grad_clip)
        )
        if step not in due:
            continue

        meter.eval_started()
        last = step == cfg.max_steps
        with evaluating(model):
            extractable, score = extraction_labels(model, seqs, k, model.bos_id)
            logp = sequence_log_probs(model, seqs, model.bos_id) if last else None
        meter.eval_finished()
        labels.append(
            pd.DataFrame(
                {
                    "seq_id": np.arange(len(seqs)),
                    "step": step,
                    "extractable": extractable,
                    "mem_score": score,
                }
            )
        )
        metrics = {
            "step": step,
            "epochs": step * B / M,
            "train_loss": meter.take_train_loss_bits(),  # bits/token
            "n_memorized": int(extractable.sum()),
            "frac_memorized": float(extractable.mean()),
            "frac_memorized_unique": float(extractable[~dup].mean()) if (~dup).any() else 0.0,
            "frac_memorized_duplicated": float(extractable[dup].mean()) if dup.any() else 0.0,
            "mean_mem_score": float(score.mean()),
            "n_sequences": len(seqs),
            "n_params": n_params,
            "lr": lr,
            "train_seconds": state.train_seconds,
            "eval_seconds": state.eval_seconds,
        }
        tables = None
        if last:
            tables = TablesCheckpoint(
                {
                    "labels": pd.concat(labels, ignore_index=True),
                    "token_logprobs": pd.DataFrame(
                        {"seq_id": np.arange(len(seqs)), "logprobs": list(logp)}
                    ),
                    "corpus": corpus.table(),
                }
            )
        report(metrics, tables)
    return tables  # type: ignore[return-value]  # the loop always reaches max_steps
