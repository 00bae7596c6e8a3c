"""Optimization shared by every memtune loop: lr schedule, AdamW, the step, the batch order.

Plain torch, no Ray. Each loop differs in what it trains on and when it stops; how it takes a
step is the same everywhere, so a change here (a schedule, a clip) reaches every experiment.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from memtune.core.config import OptimConfig


def lr_at(step: int, peak: float, cfg: OptimConfig, max_steps: int) -> float:
    """Linear warmup, then ``n_cycles`` cosine decays from peak to min_lr_frac * peak.

    Each cycle restarts at the peak (hard restarts, as in the seed's cosine_with_restarts).
    """
    if step < cfg.warmup_steps:
        return peak * (step + 1) / cfg.warmup_steps
    span = max(1, max_steps - cfg.warmup_steps)
    cycle = span / cfg.n_cycles
    t = ((step - cfg.warmup_steps) % cycle) / cycle
    lo = cfg.min_lr_frac * peak
    return lo + 0.5 * (peak - lo) * (1.0 + math.cos(math.pi * t))


@dataclass
class PlateauSchedule:
    """Warmup-stable-decay whose decay starts when progress stalls, not at a step fixed in advance.

    The lr warms up, holds at the peak while the monitored value (higher is better; the capacity
    loop feeds memorized bits) still gains more than ``stall_tol`` (relative to its best) within
    ``stall_steps``, then follows a cosine from the peak down to ``min_lr_frac * peak`` over
    ``decay_steps`` and stays there. Why: on memorization the peak lr reaches its own plateau
    fast and most of the bits come while the lr falls (a fixed cosine spends half its steps
    above that plateau, or ends before it); triggering the decay lets each run spend its steps
    where they pay. With ``schedule="cosine"`` it is ``lr_at``, so a loop can always use it.

    The fields are plain numbers, so a loop checkpoints it with ``dataclasses.asdict``.

        sched = PlateauSchedule()
        lr = sched.lr(step, peak, cfg, max_steps)          # every step
        sched.observe(step, bits)                          # after every evaluation
    """

    best: float = -math.inf  # best monitored value so far
    ref_step: int = 0  # step at which the best last grew by more than stall_tol
    ref_value: float = -math.inf  # the best at ref_step
    decay_start: int = -1  # step at which the decay began; -1 = still at the peak

    def observe(self, step: int, value: float, cfg: OptimConfig) -> None:
        """Record an evaluation; start the decay once the best has stalled for stall_steps."""
        self.best = max(self.best, value)
        if self.ref_value == -math.inf or self.best - self.ref_value > cfg.stall_tol * max(
            abs(self.ref_value), 1.0
        ):
            self.ref_step, self.ref_value = step, self.best
        elif (
            cfg.schedule == "plateau"
            and self.decay_start < 0
            and step - self.ref_step >= cfg.stall_steps
        ):
            self.decay_start = step

    def lr(self, step: int, peak: float, cfg: OptimConfig, max_steps: int) -> float:
        if cfg.schedule == "cosine":
            return lr_at(step, peak, cfg, max_steps)
        if step < cfg.warmup_steps:
            return peak * (step + 1) / cfg.warmup_steps
        if self.decay_start < 0:
            return peak
        lo = cfg.min_lr_frac * peak
        t = (step - self.decay_start) / max(cfg.decay_steps, 1)
        if t >= 1:
            return lo
        return lo + 0.5 * (peak - lo) * (1.0 + math.cos(math.pi * t))

    def annealed(self, step: int, cfg: OptimConfig, max_steps: int) -> bool:
        """Whether the lr has finished annealing at ``step``: the plateau schedule's decay is over,
        or the cosine is in the last stretch of its final cycle, within 10% of the way from its
        floor to the peak (the last ~20% of a single cosine)."""
        if cfg.schedule == "plateau":
            return self.decay_start >= 0 and step >= self.decay_start + cfg.decay_steps
        span = max(1, max_steps - cfg.warmup_steps)
        last_cycle_start = cfg.warmup_steps + span * (cfg.n_cycles - 1) / cfg.n_cycles
        near_floor = cfg.min_lr_frac + 0.1 * (1.0 - cfg.min_lr_frac)
        return step >= last_cycle_start and lr_at(step, 1.0, cfg, max_steps) <= near_floor


def make_optimizer(model: nn.Module, cfg: OptimConfig, lr: float) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices only (nanoGPT's split: no decay on norms, biases)."""
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    groups = [
        {"params": decay, "weight_decay": cfg.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=lr, betas=(cfg.beta1, cfg.beta2), foreach=True)


def optimizer_step(
    opt: torch.optim.Optimizer, model: torch.nn.Module, logits: torch.Tensor,
    targets: torch.Tensor, lr: float, grad_clip: float,
) -> torch.Tensor:  # fmt: skip
    """Cross-entropy of (B, T, V) logits on (B, T) targets, backward, clip, set lr, step.

    Every memtune loop trains through this one step. It returns the detached loss (nats/token)
    as a tensor: loops sum it on the device and sync with the host only when they report.
    """
    loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1))
    opt.zero_grad(set_to_none=True)
    loss.backward()
    if grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip, foreach=True)
    for group in opt.param_groups:
        group["lr"] = lr
    opt.step()
    return loss.detach()


class BatchOrder:
    """Random batches without replacement, one permutation per epoch, derived from (seed, epoch).

    Being a pure function of the step, the order needs no state in a checkpoint: a resumed run
    sees exactly the batches the uninterrupted run would have seen. ``None`` means full batch.
    """

    def __init__(self, n: int, batch_size: int, seed: int) -> None:
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.full = batch_size == 0 or batch_size >= n
        self.per_epoch = 1 if self.full else n // batch_size
        self._epoch, self._perm = -1, torch.empty(0, dtype=torch.long)

    def __call__(self, step: int) -> torch.Tensor | None:
        if self.full:
            return None
        epoch, i = divmod(step, self.per_epoch)
        if epoch != self._epoch:
            gen = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._epoch, self._perm = epoch, torch.randperm(self.n, generator=gen)
        return self._perm[i * self.batch_size : (i + 1) * self.batch_size]
