"""Optimization shared by every memtune loop: lr schedule, AdamW, the step, the batch order.

Plain torch, no Ray. Each loop differs in what it trains on and when it stops; how it takes a
step is the same everywhere, so a change here (a schedule, a clip) reaches every experiment.
"""

from __future__ import annotations

import math

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
