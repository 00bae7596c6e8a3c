"""The Zipf-frequency memorization loop (seed 001). Plain torch, no Ray.

K random binary sequences of T bits; at every step a batch of B is drawn with replacement, the
sequence of rank r with probability p_r = r^-alpha / sum_s s^-alpha (``data.ZipfSampler``).
``train_zipf`` counts every presentation of every sequence on the device and, at log-spaced
steps, evaluates each sequence's loss and accuracy, so one trial yields rows (rank,
presentations so far, loss, accuracy) over training: ``report(metrics, state, rows)`` hands them
to the caller (the Tune trainable appends them to the trial's ``zipf_records.parquet``, tests
keep them in a list).

    python -c "from memtune.experiments.zipf.loop import train_zipf; \
from memtune.experiments.zipf.config import ZipfConfig; \
print(train_zipf(ZipfConfig(max_steps=300))[-1])"
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn as nn

from memtune.core.data import with_bos
from memtune.core.loop import LoopMeter, LoopState
from memtune.core.metrics import LN2, evaluating, token_log_probs
from memtune.core.models import count_params
from memtune.core.optim import lr_at, make_optimizer, optimizer_step
from memtune.experiments.zipf.config import RECORDS_FILE, ZipfConfig
from memtune.experiments.zipf.data import (
    VOCAB,
    ZipfSampler,
    bayes_reference,
    make_zipf_sequences,
    zipf_probs,
)
from memtune.experiments.zipf.models import build_zipf_model, pheno_param_count

Report = Callable[[dict[str, Any], "ZipfState | None", "pd.DataFrame | None"], None]


def peak_lr(cfg: ZipfConfig) -> float:
    """optim.lr, or optim.lr_scale / width, times arch.lr_mult."""
    return cfg.optim.peak_lr(cfg.arch.width) * cfg.arch.lr_mult


def evaluate_sequences(
    model: nn.Module, inputs: torch.Tensor, data: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sequence loss (bits per token) and token accuracy (argmax), each (K,), teacher forced.

    Args:
        model: maps input ids (K, T) to logits (K, T, 2).
        inputs: (K, T) [BOS, x_1 .. x_{T-1}].
        data: (K, T) the bits to predict.
    """
    with evaluating(model):
        logits = model(inputs).float()
        nats = -token_log_probs(logits, data)  # (K, T)
        acc = (logits.argmax(-1) == data).float().mean(1)
    return nats.mean(1) / LN2, acc


@dataclass
class ZipfState(LoopState):
    """``LoopState`` plus the presentation counts, so a resumed run keeps counting."""

    counts: list[int] = field(default_factory=list)


def trial_columns(cfg: ZipfConfig, n_params: int) -> dict[str, Any]:
    """The values of ``config.TRIAL_COLUMNS`` for this trial."""
    gpt = cfg.arch.kind == "gpt"
    return {
        "experiment": cfg.arch.name,
        "kind": cfg.arch.kind,
        "n_layer": cfg.arch.model.n_layer if gpt else 0,
        "n_head": cfg.arch.model.n_head if gpt else 0,
        "d_model": cfg.arch.model.d_model if gpt else cfg.arch.d_feature,
        "pos_emb": cfg.arch.model.pos_emb if gpt else "none",
        "lr": peak_lr(cfg),
        "seed": cfg.seed,
        "alpha": float(cfg.data.alpha),
        "n_seqs": cfg.data.n_seqs,
        "seq_len": cfg.data.seq_len,
        "n_params": n_params,
    }


def train_zipf(
    cfg: ZipfConfig,
    report: Report | None = None,
    resume: ZipfState | None = None,
    device: str = "cpu",
    on_batch: Callable[[torch.Tensor], None] | None = None,
) -> list[dict[str, Any]]:
    """Train on Zipf-sampled batches, evaluating every sequence at ``cfg.eval_steps()``.

    Args:
        cfg: the trial's configuration.
        report: called as report(metrics, state, rows) after each evaluation: rows holds one
            record per sequence (``TRIAL_COLUMNS``, step, rank, p, presentations, loss_bits,
            accuracy, floor_bits, bayes_accuracy); state is not None when a checkpoint is due.
            A finished run restored from its final checkpoint reports its last metrics once
            more with rows None.
        resume: a state from ``ZipfState.load`` to continue from.
        device: where to train.
        on_batch: called with the sequences (B, T) of each training batch before the model
            sees them (tests count presentations independently with it; it syncs with the host).
    Returns:
        the reported metrics, one dict per evaluation.
    """
    report = report or (lambda metrics, state, rows: None)
    if resume is not None and resume.stop_reason:
        report(resume.final_metrics, None, None)
        return [resume.final_metrics]
    torch.manual_seed(cfg.seed)
    K, T = cfg.data.n_seqs, cfg.data.seq_len
    data = make_zipf_sequences(cfg.data, cfg.seed)
    probs = zipf_probs(K, cfg.data.alpha)
    reference = bayes_reference(data, probs)
    model = build_zipf_model(cfg.arch, T)
    n_params = (
        pheno_param_count(T, cfg.arch.d_feature)
        if cfg.arch.kind == "pheno"
        else count_params(model)
    )
    columns = trial_columns(cfg, n_params)
    model.to(device)
    data = data.to(device)
    inputs = with_bos(data, VOCAB)
    peak = peak_lr(cfg)
    opt = make_optimizer(model, cfg.optim, lr_at(0, peak, cfg.optim, cfg.max_steps))
    state = resume or ZipfState()
    counts = torch.zeros(K, dtype=torch.long, device=device)
    if resume is not None:
        resume.restore(model, opt)
        counts += torch.tensor(resume.counts, dtype=torch.long, device=device)
    sampler = ZipfSampler(probs, cfg.optim.batch_size, cfg.seed, device)
    due = set(cfg.eval_steps())
    meter = LoopMeter(state, device)
    records: list[dict[str, Any]] = []
    model.train()
    while state.step < cfg.max_steps:
        idx = sampler(state.step)
        counts += torch.bincount(idx, minlength=K)
        x, y = inputs[idx], data[idx]
        if on_batch is not None:
            on_batch(y)
        lr = lr_at(state.step, peak, cfg.optim, cfg.max_steps)
        loss = optimizer_step(opt, model, model(x), y, lr, cfg.optim.grad_clip)
        meter.add(loss, tokens=x.size(0) * T)
        if state.step not in due:
            continue

        meter.eval_started()
        loss_bits, acc = evaluate_sequences(model, inputs, data)
        n = counts.cpu().numpy()
        loss_np, acc_np = loss_bits.cpu().numpy().astype(np.float64), acc.cpu().numpy()
        rows = reference.assign(
            **columns,
            step=state.step,
            presentations=n,
            loss_bits=loss_np,
            accuracy=acc_np,
        )
        meter.eval_finished()
        metrics = {
            "step": state.step,
            "presentations_total": int(n.sum()),
            "loss_bits": float(loss_np.mean()),  # mean over sequences, bits/token
            "loss_bits_zipf": float((probs * loss_np).sum()),  # weighted as trained on
            "floor_bits_zipf": float((probs * reference["floor_bits"]).sum()),
            "accuracy": float(acc_np.mean()),
            "seqs_perfect": int((acc_np == 1.0).sum()),  # sequences at 100% token accuracy
            "train_loss": meter.take_train_loss_bits(),  # bits/token
            "lr": lr,
            "n_params": n_params,
            "records_file": RECORDS_FILE,
            "records_rows": len(rows),
            "train_seconds": state.train_seconds,
            "eval_seconds": state.eval_seconds,
        }
        finished = state.step >= cfg.max_steps
        # checkpoints go with evaluations, so the first one at least checkpoint_every steps on
        keep = state.checkpoint_due(cfg.checkpoint_every, final=finished)
        if keep:
            state.counts = n.tolist()
            state.snapshot(model, opt)
            if finished:
                state.stop_reason, state.final_metrics = "max_steps", metrics
        records.append(metrics)
        report(metrics, state if keep else None, rows)
    return records
