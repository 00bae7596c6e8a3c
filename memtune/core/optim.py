"""Optimization shared by every memtune loop: lr schedule, AdamW, the step, the batch order.

Plain torch, no Ray. Each loop differs in what it trains on and when it stops; how it takes a
step is the same everywhere, so a change here (a schedule, a clip) reaches every experiment.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from memtune.core.config import OptimConfig
from memtune.core.progress import is_annealed, stalled


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
class Schedule:
    """The lr of one run: a cosine fixed in advance, or warmup-stable-decay with a hold.

    ``cfg.schedule``:
    - "cosine": ``lr_at``, n_cycles cosines over max_steps.
    - "wsd": warmup, the peak, a cosine from the peak down to ``min_lr_frac * peak`` over
      ``decay_steps``, then a hold at that floor for ``hold_steps``, ending at max_steps. All of
      it is fixed in advance, so two machines give the same schedule whatever their float order.
    - "plateau": "wsd" whose decay may start early, once the monitored value (higher is better;
      the capacity loop feeds memorized bits) has gained less than ``stall_tol`` over
      ``stall_steps`` (``memtune.core.progress.stalled``), and never later than the wsd point, so
      the decay and the hold always fit before max_steps. Why a hold: it is the annealed stretch
      on which a run is judged saturated.

    The fields are plain numbers, so a loop checkpoints it with ``dataclasses.asdict``.

        sched = Schedule()
        lr = sched.lr(step, peak, cfg, max_steps)              # every step
        sched.observe(step, history, cfg)                      # after every evaluation
    """

    triggered: int = -1  # step at which the stall trigger began the decay; -1 = it has not

    def observe(self, step: int, history: list[tuple[int, float]], cfg: OptimConfig) -> None:
        """Record an evaluation; under "plateau", start the decay once the best has stalled."""
        if (
            cfg.schedule == "plateau"
            and self.triggered < 0
            and step >= cfg.warmup_steps
            and stalled(history, cfg.stall_steps, cfg.stall_tol)
        ):
            self.triggered = step

    def decay_start(self, cfg: OptimConfig, max_steps: int) -> int:
        """The step the decay begins: the trigger's, or the latest that leaves the decay and
        the hold before max_steps; -1 for the cosine."""
        if cfg.schedule == "cosine":
            return -1
        latest = max(cfg.warmup_steps, max_steps - cfg.decay_steps - cfg.hold_steps)
        return min(self.triggered, latest) if self.triggered >= 0 else latest

    def lr(self, step: int, peak: float, cfg: OptimConfig, max_steps: int) -> float:
        if cfg.schedule == "cosine":
            return lr_at(step, peak, cfg, max_steps)
        if step < cfg.warmup_steps:
            return peak * (step + 1) / cfg.warmup_steps
        start = self.decay_start(cfg, max_steps)
        if step < start:
            return peak
        lo = cfg.min_lr_frac * peak
        t = (step - start) / max(cfg.decay_steps, 1)
        if t >= 1:
            return lo
        return lo + 0.5 * (peak - lo) * (1.0 + math.cos(math.pi * t))

    def annealed(self, step: int, cfg: OptimConfig, max_steps: int) -> bool:
        """Whether the lr at ``step`` is annealed (``memtune.core.progress.is_annealed``): past
        the warmup and near its floor, for every schedule alike."""
        return step >= cfg.warmup_steps and is_annealed(
            self.lr(step, 1.0, cfg, max_steps), cfg.min_lr_frac
        )


def _not_the_profiler_note(record: logging.LogRecord) -> bool:
    """Drop dynamo's "Profiler record function ... will be ignored": compiling the optimizer's
    step meets the ``record_function`` torch wraps every step in, and says so once per trial, a
    line in the middle of a sweep's output that asks nothing of the user."""
    return not str(record.msg).startswith("Profiler record function")


# Devices whose AdamW has a fused kernel in torch 2.13 (``torch.optim.AdamW(fused=True)``): one
# kernel per step instead of a dozen foreach ops. Measured on cpu-xxs (full batch of 99, one
# thread): AdamW 0.70 ms -> 0.28 ms of an 8.5 ms step; ``benchmarks/run.py`` measures the ratio.
FUSED_DEVICES = ("cpu", "cuda")


def make_optimizer(
    model: nn.Module, cfg: OptimConfig, lr: float, fused: bool | None = None,
    flush_denormal: bool = True,
) -> torch.optim.AdamW:  # fmt: skip
    """AdamW with weight decay on matrices only (nanoGPT's split: no decay on norms, biases).

    Every loop builds its optimizer here right after its model, so this is where the step is
    made fast: the fused AdamW wherever torch has the kernel, and with ``cfg.compile`` the
    model's forward compiled in place (``nn.Module.compile``) and the optimizer's step compiled
    (its lr then a tensor, so that the schedule's new value each step does not recompile).

    Args:
        model: the model whose parameters are trained (moved to its device already).
        cfg: the optimizer config (betas, weight decay, ``compile``).
        lr: the first step's lr; ``optimizer_step`` sets it each step.
        fused: None = fused wherever the parameters' device has the kernel; False = torch's
            foreach AdamW (the eager step ``benchmarks/run.py`` compares against).
        flush_denormal: flush float32 values below 1.2e-38 to zero in this process's CPU
            arithmetic (``torch.set_flush_denormal``). At the protocol's peak lr the trained
            models produce denormals (an attention softmax far below 1, tiny second moments),
            and x86 cores take them in microcode: a cpu-xs step at lr 0.05 ran 34-40 ms with
            them and 16-20 ms flushed, compiled, and 22-34 against 16-24 ms eager (3 December,
            docs/performance.md). A denormal is below any figure memtune reports, but the
            flush changes the float arithmetic, so a trajectory moves like a rerun elsewhere.
            A process-wide setting, made either way: every memtune loop builds its optimizer
            here.
    """
    torch.set_flush_denormal(flush_denormal)
    params = list(model.parameters())
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    groups = [
        {"params": decay, "weight_decay": cfg.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    if fused is None:
        fused = all(p.device.type in FUSED_DEVICES and p.is_floating_point() for p in params)
    kind = {"fused": True} if fused else {"foreach": not cfg.compile}
    first_lr: float | torch.Tensor = torch.tensor(lr) if cfg.compile else lr
    opt = torch.optim.AdamW(groups, lr=first_lr, betas=(cfg.beta1, cfg.beta2), **kind)
    if cfg.compile:
        logging.getLogger("torch._dynamo.variables.ctx_manager").addFilter(_not_the_profiler_note)
        model.compile()
        # an instance attribute: optimizer_step calls opt.step() and gets the compiled one
        opt.step = torch.compile(opt.step, fullgraph=False)  # type: ignore[method-assign]
    return opt


def optimizer_step(
    opt: torch.optim.Optimizer, model: torch.nn.Module, logits: torch.Tensor,
    targets: torch.Tensor, lr: float, grad_clip: float,
) -> torch.Tensor:  # fmt: skip
    """Cross-entropy of (B, T, V) logits on (B, T) targets, backward, clip, set lr, step.

    Every memtune loop trains through this one step. It returns the detached loss (nats/token)
    as a tensor: loops sum it on the device and sync with the host only when they report.
    """
    # fp32 loss from bf16 logits (optim.dtype="bf16"); a no-op for fp32 logits
    loss = F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), targets.reshape(-1))
    opt.zero_grad(set_to_none=True)
    loss.backward()
    if grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip, foreach=True)
    for group in opt.param_groups:
        if isinstance(group["lr"], torch.Tensor):
            group["lr"].fill_(lr)  # a compiled step: the same tensor, a new value
        else:
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
