"""The generalization loop: a GPT trained on sequences from an exact source. No Ray.

``train(cfg, report, resume)`` trains on N training sequences under the capacity protocol
(the schedule of ``cfg.optim``, verdicts memorized / saturated / budget) and, at every
evaluation, codes every training and held-out sequence under the model, compares each with its
exact code length under the source (``metrics.generalization_summary``) and calls
``report(metrics, state, rows)``; ``rows`` (the per-sequence code lengths) comes with the last
evaluation only, which the analysis recomputes every figure from. The Tune trainable writes
them to the trial's ``generalization_sequences.parquet``; tests pass a function.

    python -c "from memtune.experiments.generalization.loop import train; \
from memtune.experiments.generalization.config import GenConfig; \
print(train(GenConfig(max_steps=300)))"
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch

from memtune.core.data import with_bos
from memtune.core.loop import LoopMeter, LoopState
from memtune.core.metrics import sequence_code_lengths, sequence_floor_bits
from memtune.core.models import build_model, count_params
from memtune.core.optim import BatchOrder, Schedule, make_optimizer, optimizer_step
from memtune.core.progress import annealed_stretch, gain_over, verdict
from memtune.experiments.generalization.config import GenConfig, crossing_n_seqs
from memtune.experiments.generalization.data import (
    expected_sequence_bits,
    make_source,
    make_splits,
    source_code_lengths,
    source_rate_bits,
)
from memtune.experiments.generalization.metrics import generalization_summary

Report = Callable[..., None]  # report(metrics, state=None, rows=None)


@dataclass
class GenState(LoopState):
    """``LoopState`` plus the schedule and the evaluations so far (for the verdict)."""

    schedule: dict[str, Any] = field(default_factory=dict)  # Schedule's fields
    # (step, train code length in bits, lr annealed at that step) per evaluation
    history: list[tuple[int, float, bool]] = field(default_factory=list)


def train(
    cfg: GenConfig,
    report: Report | None = None,
    resume: GenState | None = None,
    device: str = "cpu",
) -> dict[str, Any]:
    """Train until the training set is memorized, its code length saturates, or the budget ends
    (with ``cfg.equal_steps``: until the budget ends, judged there).

    Args:
        cfg: the trial's configuration.
        report: called as report(metrics, state, rows) after each evaluation; ``state`` is a
            ``GenState`` when a checkpoint is due, ``rows`` a DataFrame of per-sequence code
            lengths (``_rows``) at the last evaluation.
        resume: a state from ``GenState.load`` to continue from.
        device: where to train.
    Returns:
        the last reported metrics, with ``stop_reason`` and ``verdict``.
    """
    report = report or (lambda metrics, state=None, rows=None: None)
    if resume is not None and resume.stop_reason:
        # restored after it had finished (Tune's snapshot lags): report, do not train again
        report(resume.final_metrics, None)
        return resume.final_metrics
    torch.manual_seed(cfg.seed)
    V, T = cfg.data.vocab_size, cfg.data.seq_len
    model = build_model(cfg.model, vocab_size=V, block_size=T)
    n_params = count_params(model)
    lang = make_source(cfg.data)
    seq_bits = expected_sequence_bits(lang, T)
    rate_bits = source_rate_bits(lang)
    N = cfg.n_seqs_for(n_params, seq_bits)
    train_np, held_np = make_splits(lang, N, T, cfg.seed)  # numpy: the init is unchanged
    train_source = source_code_lengths(lang, train_np)
    held_source = source_code_lengths(lang, held_np)
    train_data = torch.from_numpy(train_np)
    floor = sequence_floor_bits(train_data)
    model.to(device)
    train_data = train_data.to(device)
    held_data = torch.from_numpy(held_np).to(device)
    train_inputs = with_bos(train_data, model.bos_id)
    held_inputs = with_bos(held_data, model.bos_id)
    capacity_bits = cfg.capacity_bpp * n_params
    peak = cfg.optim.peak_lr(cfg.model.d_model)
    state = resume or GenState()
    known = {f.name for f in dataclasses.fields(Schedule)}
    sched = Schedule(**{k: v for k, v in state.schedule.items() if k in known})
    opt = make_optimizer(model, cfg.optim, sched.lr(0, peak, cfg.optim, cfg.max_steps))
    if resume is not None:
        resume.restore(model, opt)
    batches = BatchOrder(N, cfg.optim.batch_size, cfg.seed)
    meter = LoopMeter(state, device)
    metrics: dict[str, Any] = {}
    model.train()
    while state.step < cfg.max_steps:
        idx = batches(state.step)
        x, y = (train_inputs, train_data) if idx is None else (train_inputs[idx], train_data[idx])
        lr = sched.lr(state.step, peak, cfg.optim, cfg.max_steps)
        loss = optimizer_step(opt, model, model(x), y, lr, cfg.optim.grad_clip)
        meter.add(loss, tokens=x.size(0) * T)
        if state.step % cfg.eval_every and state.step < cfg.max_steps:
            continue

        meter.eval_started()
        train_model = sequence_code_lengths(model, train_inputs, train_data).cpu().numpy()
        held_model = sequence_code_lengths(model, held_inputs, held_data).cpu().numpy()
        summary = generalization_summary(
            train_source, train_model, held_source, held_model, T, floor
        )
        annealed = sched.annealed(state.step, cfg.optim, cfg.max_steps)
        state.history.append((state.step, float(train_model.sum()), annealed))
        # the stall trigger ("plateau") reads a value that rises: bits saved on the train set
        sched.observe(state.step, [(h[0], -h[1]) for h in state.history], cfg.optim)
        state.schedule = dataclasses.asdict(sched)
        judged = judge(state.history, cfg.judging_window(state.step), cfg.saturation_tol,
                       capacity_bits)  # fmt: skip
        stop_reason = _stop_reason(cfg, state, summary, judged["saturated"])
        meter.eval_finished()
        metrics = {
            "step": state.step,
            "tokens_seen": state.tokens_seen,
            "epochs": state.tokens_seen / (N * T),
            "lr": lr,
            "train_loss": meter.take_train_loss_bits(),  # bits/token, running mean of batches
            **summary,
            "n_params": n_params,
            "n_seqs": N,
            "capacity_bits": capacity_bits,  # the estimate: capacity_bpp x n_params
            "crossing_n_seqs": crossing_n_seqs(cfg, n_params, seq_bits),
            "capacity_ratio": capacity_bits / summary["data_bits"],
            "source_entropy_bits_per_token": rate_bits,  # h, the rate
            "train_seconds": state.train_seconds,
            "eval_seconds": state.eval_seconds,
            "recent_fall_bits": judged["recent_fall_bits"],
            "verdict": verdict(stop_reason, judged["saturated"]),
        }
        if stop_reason:
            metrics["stop_reason"] = stop_reason
        due = state.checkpoint_due(cfg.checkpoint_every, final=bool(stop_reason))
        if due:
            state.stop_reason, state.final_metrics = stop_reason, metrics
            state.snapshot(model, opt)
        rows = (
            _rows(train_source, train_model, held_source, held_model, floor, state.step)
            if stop_reason
            else None
        )
        report(metrics, state if due else None, rows)
        if stop_reason:
            break
    return metrics


def _rows(
    train_source: np.ndarray,
    train_model: np.ndarray,
    held_source: np.ndarray,
    held_model: np.ndarray,
    floor: np.ndarray,
    step: int,
) -> pd.DataFrame:
    """Per-sequence code lengths of one evaluation: split, seq, source_bits, model_bits,
    floor_bits (a training sequence's least code length; nan for held-out ones), step."""
    n_train, n_held = train_source.size, held_source.size
    return pd.DataFrame({
        "split": ["train"] * n_train + ["heldout"] * n_held,
        "seq": np.r_[np.arange(n_train), np.arange(n_held)],
        "source_bits": np.r_[train_source, held_source],
        "model_bits": np.r_[train_model, held_model].astype(np.float64),
        "floor_bits": np.r_[floor, np.full(n_held, np.nan)],
        "step": step,
    })  # fmt: skip


def judge(
    history: list[tuple[int, float, bool]], window: int, tol: float, scale_bits: float
) -> dict[str, Any]:
    """Whether the training set's code length has saturated, from the evaluations so far.

    The capacity experiment's rule (``memtune.core.progress.gain_over``, how="trend") on the
    train code length: the least-squares trend over the last ``window`` steps fell by at most
    ``tol`` x ``scale_bits`` (the capacity estimate), every evaluation of the window, the first
    included, at an annealed lr. The trend is taken of the code length centred on its window
    mean and divided by the scale, so ``gain_over``'s relative gain is this absolute fall in
    units of the capacity: a relative fall of the whole code length would be dominated by the
    N T h bits the model generalized (see ``GenConfig.saturation_tol``).

    Args:
        history: (step, train code length in bits, lr annealed) per evaluation.
        window: steps over which the code length must be flat.
        tol: the largest fall still counted as flat, as a share of ``scale_bits``.
        scale_bits: the capacity estimate (capacity_bpp x params).
    Returns:
        ``saturated`` and ``recent_fall_bits`` (the trend's fall over the window, in bits; since
        the first evaluation when the run is shorter).
    """
    step = history[-1][0]
    earlier = [h for h in history if h[0] <= step - window]
    ref = earlier[-1][0] if earlier else history[0][0]
    pts = [h for h in history if h[0] >= ref]
    mean = sum(h[1] for h in pts) / len(pts)
    fall, _ = gain_over([(h[0], (mean - h[1]) / scale_bits) for h in history], window, "trend")
    saturated = annealed_stretch(history, window) and fall <= tol
    return {"saturated": saturated, "recent_fall_bits": fall * scale_bits}


def _stop_reason(
    cfg: GenConfig, state: GenState, summary: dict[str, float], saturated: bool
) -> str:
    """Why the run stops now ("" = it goes on): memorized, saturated, max_steps in that order;
    with ``cfg.equal_steps`` only at max_steps, where the same order names the verdict."""
    if cfg.equal_steps and state.step < cfg.max_steps:
        return ""
    share = summary["memorized_share"]
    if not math.isnan(share) and share >= cfg.target_memorized_share:
        return "memorized"
    if saturated:
        return "saturated"
    if state.step >= cfg.max_steps:
        return "max_steps"
    return ""
