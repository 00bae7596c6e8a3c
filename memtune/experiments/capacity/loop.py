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
from memtune.core.models import build_model, count_params, param_split
from memtune.core.optim import BatchOrder, Schedule, make_optimizer, optimizer_step
from memtune.core.precision import compute_context, snapshot, unchanged_fraction
from memtune.core.progress import (
    annealed_stretch,
    gain_over,
    judging_window,
    level,
    stalled,
    verdict,
)
from memtune.experiments.capacity.config import TrainConfig
from memtune.experiments.capacity.data import make_random_sequences

Report = Callable[[dict[str, Any], "TrainState | None"], None]


@dataclass
class TrainState(LoopState):
    """``LoopState`` plus the best memorized bits, the schedule and the evaluations so far."""

    best_bits: float = -math.inf
    best_step: int = 0
    schedule: dict[str, Any] = field(default_factory=dict)  # Schedule's fields
    # (step, best bits so far, lr annealed at that step, bits at that step) per evaluation
    history: list[tuple[int, float, bool, float]] = field(default_factory=list)


def train(
    cfg: TrainConfig,
    report: Report | None = None,
    resume: TrainState | None = None,
    device: str = "cpu",
) -> dict[str, Any]:
    """Train until the data is memorized, the bits saturate, or the budget ends; return metrics.

    Stop reasons: efficiency >= target_efficiency or excess loss <= target_excess_bits
    ("memorized"); the trend of memorized bits flat (rose <= saturation_tol) over the last
    max(saturation_window, saturation_fraction x step) steps, all at an annealed lr
    ("saturated", see ``judge``); best memorized bits gained < min_improvement over the last
    ``patience`` steps ("patience"); or "max_steps". "Flat" is one rule for all three
    (``memtune.core.progress``). Every evaluation reports ``verdict`` (``verdict``), set once
    the run stops: memorized, saturated or budget.

    The lr follows ``cfg.optim.schedule`` (``memtune.core.optim.Schedule``): a cosine, or a
    warmup-stable-decay whose decay and hold end at max_steps, or start earlier when memorized
    bits stall ("plateau"); its state is checkpointed.

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
    torch.manual_seed(cfg.model_seed)
    model = build_model(cfg.model, vocab_size=cfg.data.vocab_size, block_size=cfg.data.seq_len)
    n_params = count_params(model)
    split = {f"n_params_{kind}": n for kind, n in param_split(model).items()}
    if cfg.optim.dtype == "bf16":  # pure bf16: the parameters themselves hold 16 bits
        model.to(torch.bfloat16)
    data_cfg = dataclasses.replace(cfg.data, n_seqs=cfg.n_seqs_for(n_params))
    data = make_random_sequences(data_cfg, cfg.data_seed)  # (N, T); numpy: init unchanged
    floor_bits = sequence_floor_bits(data)
    model.to(device)
    data = data.to(device)
    inputs = with_bos(data, model.bos_id)
    peak = cfg.optim.peak_lr(cfg.model.d_model)
    state = resume or TrainState()
    known = {f.name for f in dataclasses.fields(Schedule)}
    sched = Schedule(**{k: v for k, v in state.schedule.items() if k in known})
    opt = make_optimizer(model, cfg.optim, sched.lr(0, peak, cfg.optim, cfg.max_steps))
    if resume is not None:
        resume.restore(model, opt)
    N, T = data.shape
    batches = BatchOrder(N, cfg.optim.batch_size, cfg.model_seed)
    meter = LoopMeter(state, device)
    metrics: dict[str, Any] = {}
    compute = compute_context(cfg.optim.dtype, device)  # bf16 autocast under "mixed"
    model.train()
    while state.step < cfg.max_steps:
        idx = batches(state.step)
        x, y = (inputs, data) if idx is None else (inputs[idx], data[idx])
        lr = sched.lr(state.step, peak, cfg.optim, cfg.max_steps)
        # the step before an evaluation is watched: how many entries did it leave unchanged
        watched = (state.step + 1) % cfg.eval_every == 0 or state.step + 1 >= cfg.max_steps
        before = snapshot(model.parameters()) if watched else None
        with compute:
            logits = model(x)
        loss = optimizer_step(opt, model, logits, y, lr, cfg.optim.grad_clip)
        meter.add(loss, tokens=x.size(0) * T)
        if state.step % cfg.eval_every and state.step < cfg.max_steps:
            continue

        meter.eval_started()
        unchanged = unchanged_fraction(before, model.parameters()) if before else float("nan")
        with compute:
            code_bits = sequence_code_lengths(model, inputs, data).cpu().numpy()
        summary = memorization_summary(
            code_bits, floor_bits, T, cfg.data.vocab_size, cfg.memorized_slack_bits
        )
        if summary["bits_memorized"] > state.best_bits:
            state.best_bits, state.best_step = summary["bits_memorized"], state.step
        annealed = sched.annealed(state.step, cfg.optim, cfg.max_steps)
        state.history.append((state.step, state.best_bits, annealed, summary["bits_memorized"]))
        sched.observe(state.step, [(h[0], h[1]) for h in state.history], cfg.optim)
        state.schedule = dataclasses.asdict(sched)
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
            # the run's capacity estimate: the mean of the bits over the judged window
            # (``memtune.core.progress.level``); the best is a diagnostic, biased up by the swing
            "bits_memorized_level": judged["level"],
            "bits_memorized_best": state.best_bits,
            "efficiency_best": state.best_bits / summary["bits_achievable"]
            if summary["bits_achievable"] > 0
            else float("nan"),
            "n_params": n_params,
            **split,
            "n_seqs": N,
            "seed_data": cfg.data_seed,
            "seed_init": cfg.model_seed,
            "bits_per_param": summary["bits_memorized"] / n_params,
            # the share of parameter entries the last step left unchanged: updates that round
            # away under pure bf16 (memtune.core.precision); ~0 in fp32 and mixed
            "frac_unchanged": unchanged,
            "train_seconds": state.train_seconds,
            "eval_seconds": state.eval_seconds,
            "decay_start": sched.decay_start(cfg.optim, cfg.max_steps),  # -1: a cosine
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


def judge(history: list[tuple], window: int, tol: float, fraction: float = 0.0) -> dict[str, Any]:
    """Whether memorized bits have saturated, from the evaluations so far.

    Args:
        history: (step, best memorized bits so far, lr annealed at that step, memorized bits at
            that step) per evaluation (checkpoints before the last field have the best only).
        window: the fewest steps over which the bits must be flat.
        tol: relative rise over the window still counted as flat.
        fraction: the window is also at least this share of the steps so far (1/3: the ground
            truth's "< 1% over the last third"). At a low lr bits creep: a short window can be
            flat at a level the run still leaves, a window that grows with the run cannot.
    Returns:
        ``saturated``: the least-squares trend of memorized bits over the last window rose at
        most ``tol`` across it (``memtune.core.progress.stalled`` with how="trend": robust to
        the +-2% the bits swing between evaluations at a low lr), every evaluation of the
        window, the first included, at an annealed lr (a flat stretch at a higher lr is that
        lr's own plateau, which the decay still lifts); ``recent_gain``: that trend's rise (or
        since the first evaluation, if the run is shorter): the slope a budget-limited run
        reports; ``level``: the mean of the bits over the same window, the run's capacity
        estimate (``memtune.core.progress.level``).
    """
    window = judging_window(history[-1][0], window, fraction)
    bits = [(h[0], h[3] if len(h) > 3 else h[1]) for h in history]
    gain, _ = gain_over(bits, window, "trend")
    return {
        "saturated": annealed_stretch(history, window) and gain <= tol,
        "recent_gain": gain,
        "level": level(bits, window),
    }


def _stop_reason(
    cfg: TrainConfig, state: TrainState, summary: dict[str, float], saturated: bool
) -> str:
    if (
        summary["efficiency"] >= cfg.target_efficiency
        or summary["excess_bits_per_token"] <= cfg.target_excess_bits
    ):
        return "memorized"
    if saturated:
        return "saturated"
    if state.step >= cfg.max_steps:
        return "max_steps"
    if stalled([(h[0], h[1]) for h in state.history], cfg.patience, cfg.min_improvement):
        return "patience"
    return ""
