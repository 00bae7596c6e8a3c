"""One threshold probe (seed 004): does a model of a given budget learn N mappings exactly?

Plain torch, no Ray, the same optimization as every memtune loop (``memtune.core.optim``): AdamW
with the matrices-only weight decay of ``make_optimizer``, warmup and cosine decay from
``lr_at``, batches from ``BatchOrder`` (full batch while N <= batch_size), gradient clipping,
and no host sync between evaluations. Only the stopping rule is the seed's: stop at 100% token
accuracy ("memorized"), when training has made no progress for ``patience`` epochs ("plateau"),
or at ``max_epochs``. The training set is the evaluation set: this is pure memorization.

    python -c "from memtune.experiments.threshold.loop import train_threshold; \
from memtune.experiments.threshold.config import ThresholdConfig; \
print(train_threshold(ThresholdConfig()))"
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn as nn

from memtune.core.loop import LoopMeter, LoopState
from memtune.core.metrics import EVAL_CHUNK, LN2, evaluating
from memtune.core.models import count_params
from memtune.core.optim import BatchOrder, lr_at, make_optimizer, optimizer_step
from memtune.experiments.threshold.config import ThresholdConfig, width_for_budget
from memtune.experiments.threshold.data import make_bijective_mapping
from memtune.experiments.threshold.models import build_budget_model

ThresholdReport = Callable[[dict[str, Any]], None]


def count_correct(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Correct tokens and exactly reproduced outputs over the whole set, as device tensors.

    Args:
        model: maps (x, y) to logits (B, T, V) for y.
        x, y: (N, T) inputs and targets.
    Returns:
        (tokens correct, sequences correct), 0-d int64 tensors.
    """
    tokens = torch.zeros((), dtype=torch.long, device=x.device)
    seqs = torch.zeros((), dtype=torch.long, device=x.device)
    with evaluating(model):
        for i in range(0, x.size(0), EVAL_CHUNK):
            xb, yb = x[i : i + EVAL_CHUNK], y[i : i + EVAL_CHUNK]
            hit = model(xb, yb).argmax(dim=-1) == yb  # (B, T)
            tokens += hit.sum()
            seqs += hit.all(dim=1).sum()
    return tokens, seqs


def train_threshold(
    cfg: ThresholdConfig, report: ThresholdReport | None = None, device: str = "cpu"
) -> dict[str, Any]:
    """Train until every output token is right, progress stalls, or max_epochs.

    Progress, for the patience count, is a new best token accuracy or a training loss below
    (1 - min_improvement) of the best so far; patience counts epochs since the last progress,
    from the end of the warmup (with full batches and the seed's 3-epoch patience, the warmup's
    tiny lr would otherwise read as a plateau after 3 steps).

    Args:
        cfg: the probe's configuration.
        report: called with the metrics after each evaluation (every ``eval_every`` epochs).
        device: where to train ("cpu", "cuda", ...).
    Returns:
        the last reported metrics: ``memorized`` (1 or 0), ``stop_reason``, accuracies, ...
    """
    report = report or (lambda metrics: None)
    torch.manual_seed(cfg.seed)
    d = cfg.data
    x, y = make_bijective_mapping(d.n_pairs, d.seq_len, d.vocab_size, cfg.seed)  # (N, T) each
    width = width_for_budget(cfg.model, d.seq_len, d.vocab_size)
    model = build_budget_model(cfg.model, d.seq_len, d.vocab_size).to(device)
    n_params = count_params(model)
    x, y = x.to(device), y.to(device)
    N, T = x.shape
    batches = BatchOrder(N, cfg.optim.batch_size, cfg.seed)
    max_steps = cfg.max_epochs * batches.per_epoch
    peak = cfg.optim.peak_lr(width)
    opt = make_optimizer(model, cfg.optim, lr_at(0, peak, cfg.optim, max_steps))
    state = LoopState()  # probes are short: never checkpointed, the state only keeps time
    meter = LoopMeter(state, device)
    best_acc, best_loss, progress_epoch = -1.0, math.inf, 0
    metrics: dict[str, Any] = {}
    model.train()
    for step in range(max_steps):
        idx = batches(step)
        xb, yb = (x, y) if idx is None else (x[idx], y[idx])
        lr = lr_at(step, peak, cfg.optim, max_steps)
        logits = model(xb, yb)  # (B, T, V)
        meter.add(optimizer_step(opt, model, logits, yb, lr, cfg.optim.grad_clip))
        epoch, rest = divmod(step + 1, batches.per_epoch)
        if rest or (epoch % cfg.eval_every and step + 1 < max_steps):
            continue

        meter.eval_started()
        tokens, seqs = count_correct(model, x, y)
        token_acc = tokens.item() / (N * T)
        train_loss = meter.take_train_loss_nats()
        in_warmup = step + 1 <= cfg.optim.warmup_steps  # a tiny lr is no plateau
        if in_warmup or token_acc > best_acc or train_loss < best_loss * (1 - cfg.min_improvement):
            progress_epoch = epoch
        best_acc, best_loss = max(best_acc, token_acc), min(best_loss, train_loss)
        memorized = tokens.item() == N * T
        if memorized:
            stop_reason = "memorized"
        elif step + 1 >= max_steps:
            stop_reason = "max_epochs"
        elif epoch - progress_epoch >= cfg.patience:
            stop_reason = "plateau"
        else:
            stop_reason = ""
        meter.eval_finished()
        metrics = {
            "epochs": epoch,
            "step": step + 1,
            "lr": lr,
            "train_loss": train_loss / LN2,  # bits/token, as in the capacity experiment
            "frac_tokens_correct": token_acc,
            "frac_seqs_correct": seqs.item() / N,
            "frac_tokens_correct_best": best_acc,
            "memorized": int(memorized),
            "n_pairs": N,
            "n_params": n_params,
            "width": width,
            "bits_total": N * T * math.log2(d.vocab_size),  # N log2(V^T): the outputs' bits
            "train_seconds": state.train_seconds,
            "eval_seconds": state.eval_seconds,
        }
        if stop_reason:
            metrics["stop_reason"] = stop_reason
        report(metrics)
        if stop_reason:
            break
    return metrics
