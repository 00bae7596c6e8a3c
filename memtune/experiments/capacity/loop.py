"""The capacity loop (seed 002): a GPT memorizing uniform random sequences. Plain torch, no Ray.

``train(cfg, report, resume)`` trains a GPT on the random sequences of ``cfg`` and calls
``report(metrics, state)`` after every exact evaluation; ``state`` is a ``TrainState`` when a
checkpoint is due and None otherwise. The Tune trainable adapts this to ``tune.report``; tests
pass a list's ``append``. The loop never syncs with the host between evaluations: the running
loss stays a tensor until it is reported (``LoopMeter``).

    python -c "from memtune.experiments.capacity.loop import train; \
from memtune.experiments.capacity.config import TrainConfig; \
print(train(TrainConfig(max_steps=500)))"
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from memtune.core.data import with_bos
from memtune.core.loop import LoopMeter, LoopState
from memtune.core.metrics import memorization_summary, sequence_code_lengths, sequence_floor_bits
from memtune.core.models import build_model, count_params
from memtune.core.optim import BatchOrder, PlateauSchedule, make_optimizer, optimizer_step
from memtune.experiments.capacity.config import TrainConfig
from memtune.experiments.capacity.data import make_random_sequences

Report = Callable[[dict[str, Any], "TrainState | None"], None]


@dataclass
class TrainState(LoopState):
    """``LoopState`` plus the best memorized bits and the patience clock."""

    best_bits: float = -math.inf
    best_step: int = 0
    progress_bits: float = -math.inf  # best bits when patience was last reset
    progress_step: int = 0
    schedule: dict[str, Any] = field(default_factory=dict)  # PlateauSchedule's fields
    history: list[tuple[int, float, bool]] = field(default_factory=list)  # (step, best, annealed)


def train(
    cfg: TrainConfig,
    report: Report | None = None,
    resume: TrainState | None = None,
    device: str = "cpu",
) -> dict[str, Any]:
    """Train until the data is memorized, progress stalls, or max_steps; return final metrics.

    Stopping rule: efficiency >= target_efficiency or excess loss <= target_excess_bits
    ("converged"); best memorized bits flat (< saturation_tol) over the last saturation_window
    steps and saturation_fraction of the run, at an annealed lr ("saturated", see ``judge``);
    best memorized bits grew by less than min_improvement (relative) over the last ``patience``
    steps ("plateau"); or ``max_steps``.
    Patience is counted from the best value, so a loss plateau shorter than ``patience`` that
    ends in a drop does not stop a run. Every evaluation reports ``verdict`` (``verdict``), set
    once the run stops: memorized, saturated or budget.

    The lr follows ``cfg.optim.schedule``: a cosine fixed in advance, or ``PlateauSchedule``,
    which holds the peak until memorized bits stall and then decays (its state is checkpointed).

    Args:
        cfg: the trial's configuration.
        report: called as report(metrics, state) after each evaluation; state is not None when a
            checkpoint is due (``checkpoint_every`` or more steps after the last one, and at the
            end) so the caller can persist it.
        resume: a state from ``TrainState.load`` to continue from.
        device: where to train ("cpu", "cuda", "cuda:1", ...).
    Returns:
        the last reported metrics, with ``stop_reason``.
    """
    report = report or (lambda metrics, state: None)
    if resume is not None and resume.stop_reason:
        # Tune snapshots its experiment state every few seconds, so after a driver crash it can
        # restart a trial that had already finished; its final checkpoint says so.
        report(resume.final_metrics, None)
        return resume.final_metrics
    torch.manual_seed(cfg.seed)
    model = build_model(cfg.model, vocab_size=cfg.data.vocab_size, block_size=cfg.data.seq_len)
    n_params = count_params(model)
    data_cfg = dataclasses.replace(cfg.data, n_seqs=cfg.n_seqs_for(n_params))
    data = make_random_sequences(data_cfg, cfg.seed)  # (N, T); numpy, so init is unchanged
    floor_bits = sequence_floor_bits(data)
    model.to(device)
    data = data.to(device)
    inputs = with_bos(data, model.bos_id)
    peak = cfg.optim.peak_lr(cfg.model.d_model)
    state = resume or TrainState()
    sched = PlateauSchedule(**state.schedule)
    opt = make_optimizer(model, cfg.optim, sched.lr(0, peak, cfg.optim, cfg.max_steps))
    if resume is not None:
        resume.restore(model, opt)
    N, T = data.shape
    batches = BatchOrder(N, cfg.optim.batch_size, cfg.seed)
    meter = LoopMeter(state, device)
    metrics: dict[str, Any] = {}
    model.train()
    while state.step < cfg.max_steps:
        idx = batches(state.step)
        x, y = (inputs, data) if idx is None else (inputs[idx], data[idx])
        lr = sched.lr(state.step, peak, cfg.optim, cfg.max_steps)
        loss = optimizer_step(opt, model, model(x), y, lr, cfg.optim.grad_clip)
        meter.add(loss, tokens=x.size(0) * T)
        if state.step % cfg.eval_every and state.step < cfg.max_steps:
            continue

        meter.eval_started()
        code_bits = sequence_code_lengths(model, inputs, data).cpu().numpy()
        summary = memorization_summary(
            code_bits, floor_bits, T, cfg.data.vocab_size, cfg.memorized_slack_bits
        )
        if summary["bits_memorized"] > state.best_bits:
            state.best_bits, state.best_step = summary["bits_memorized"], state.step
        first = state.progress_bits == -math.inf
        gained = state.best_bits - state.progress_bits
        if first or gained > cfg.min_improvement * max(abs(state.progress_bits), 1.0):
            state.progress_bits, state.progress_step = state.best_bits, state.step
        sched.observe(state.step, summary["bits_memorized"], cfg.optim)
        state.schedule = dataclasses.asdict(sched)
        state.history.append(
            (state.step, state.best_bits, sched.annealed(state.step, cfg.optim, cfg.max_steps))
        )
        judged = judge(
            state.history, cfg.saturation_window, cfg.saturation_tol, cfg.saturation_fraction
        )
        stop_reason = _stop_reason(cfg, state, summary, judged["saturated"])
        meter.eval_finished()
        metrics = {
            "step": state.step,
            "tokens_seen": state.tokens_seen,
            "epochs": state.tokens_seen / (N * T),
            "lr": lr,
            "train_loss": meter.take_train_loss_bits(),  # bits/token
            **summary,
            "bits_memorized_best": state.best_bits,
            "efficiency_best": state.best_bits / summary["bits_achievable"]
            if summary["bits_achievable"] > 0
            else float("nan"),
            "n_params": n_params,
            "n_seqs": N,
            "bits_per_param": summary["bits_memorized"] / n_params,
            "train_seconds": state.train_seconds,
            "eval_seconds": state.eval_seconds,
            "decay_start": sched.decay_start,  # -1: the plateau schedule has not decayed yet
            "recent_gain": judged["recent_gain"],
            "verdict": verdict(stop_reason, judged["saturated"]),
        }
        if stop_reason:
            metrics["stop_reason"] = stop_reason
        due = state.checkpoint_due(cfg.checkpoint_every, final=bool(stop_reason))
        if due:
            state.stop_reason, state.final_metrics = stop_reason, metrics
            state.snapshot(model, opt)
        report(metrics, state if due else None)
        if stop_reason:
            break
    return metrics


def judge(
    history: list[tuple[int, float, bool]], window: int, tol: float, fraction: float = 0.0
) -> dict[str, Any]:
    """Whether memorized bits have saturated, from the evaluations so far.

    Args:
        history: (step, best memorized bits so far, lr annealed at that step) per evaluation.
        window: the fewest steps over which the best must be flat.
        tol: relative gain over the window still counted as flat.
        fraction: the window is also at least this share of the steps so far (1/3: the ground
            truth's "< 1% over the last third"). At a low lr bits creep: a short window can be
            flat at a level the run still leaves, a window that grows with the run cannot.
    Returns:
        ``saturated``: the best grew by at most ``tol`` over the last window, every one
        of them at an annealed lr (a flat stretch at the peak lr is the peak's own plateau, which
        the decay still lifts); ``recent_gain``: the best's relative gain over the last
        ``window`` steps (or since the first evaluation, if the run is shorter): the slope a
        budget-limited run reports.
    """
    step, best, _ = history[-1]
    window = max(window, math.ceil(fraction * step))
    earlier = [h for h in history if h[0] <= step - window]
    ref = earlier[-1] if earlier else history[0]
    gain = (best - ref[1]) / max(abs(ref[1]), 1.0)
    saturated = bool(earlier) and ref[2] and gain <= tol
    return {"saturated": saturated, "recent_gain": gain}


def verdict(stop_reason: str, saturated: bool) -> str:
    """What limited a trial: "memorized" (the data: efficiency reached its target),
    "saturated" (the model: bits flat at an annealed lr), "budget" (the steps: max_steps or
    patience stopped a run still rising, or not yet judged flat at a low lr), "" while running.
    """
    if stop_reason == "converged":
        return "memorized"
    if saturated:
        return "saturated"
    return "budget" if stop_reason else ""


def _stop_reason(
    cfg: TrainConfig, state: TrainState, summary: dict[str, float], saturated: bool
) -> str:
    if (
        summary["efficiency"] >= cfg.target_efficiency
        or summary["excess_bits_per_token"] <= cfg.target_excess_bits
    ):
        return "converged"
    if saturated:
        return "saturated"
    if state.step >= cfg.max_steps:
        return "max_steps"
    if state.step - state.progress_step >= cfg.patience:
        return "plateau"
    return ""
