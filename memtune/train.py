"""The training loop for memorization runs: plain torch, no Ray.

``train(cfg, report, resume)`` trains a GPT on the random sequences of ``cfg`` and calls
``report(metrics, state)`` after every exact evaluation; ``state`` is a ``TrainState`` when a
checkpoint is due and None otherwise. The Tune trainable adapts this to ``tune.report``; tests
pass a list's ``append``. The loop never syncs with the host between evaluations: the running
loss stays a tensor until it is reported.

    python -c "from memtune.train import train; from memtune.config import TrainConfig; \
print(train(TrainConfig(max_steps=500)))"
"""

from __future__ import annotations

import copy
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from memtune.config import OptimConfig, TrainConfig
from memtune.datasets import make_random_sequences, with_bos
from memtune.metrics import LN2, code_length_bits, memorization_summary, sequence_floor_bits
from memtune.models import GPT, build_model, count_params

Report = Callable[[dict[str, Any], "TrainState | None"], None]
STATE_FILE = "train_state.pt"
EVAL_CHUNK = 4096  # sequences per forward pass at evaluation; bounds memory for large N


@dataclass
class TrainState:
    """Everything needed to continue a run exactly where it stopped."""

    step: int = 0
    tokens_seen: int = 0
    train_seconds: float = 0.0
    eval_seconds: float = 0.0
    best_bits: float = -math.inf
    best_step: int = 0
    progress_bits: float = -math.inf  # best bits when patience was last reset
    progress_step: int = 0
    stop_reason: str = ""  # set in the final checkpoint: a restored finished run does not train
    final_metrics: dict[str, Any] = field(default_factory=dict)
    model: dict[str, Any] = field(default_factory=dict)
    optimizer: dict[str, Any] = field(default_factory=dict)

    def save(self, directory: str) -> None:
        torch.save(self.__dict__, os.path.join(directory, STATE_FILE))

    @classmethod
    def load(cls, directory: str) -> TrainState:
        return cls(**torch.load(os.path.join(directory, STATE_FILE), weights_only=False))


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


def make_optimizer(model: GPT, cfg: OptimConfig, lr: float) -> torch.optim.AdamW:
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


@torch.no_grad()
def sequence_code_lengths(model: GPT, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Code length in bits of each sequence under the model, (N,)."""
    was_training = model.training
    model.eval()
    out = [
        code_length_bits(model(inputs[i : i + EVAL_CHUNK]), targets[i : i + EVAL_CHUNK])
        for i in range(0, inputs.size(0), EVAL_CHUNK)
    ]
    model.train(was_training)
    return torch.cat(out)


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


def train(
    cfg: TrainConfig,
    report: Report | None = None,
    resume: TrainState | None = None,
    device: str = "cpu",
) -> dict[str, Any]:
    """Train until the data is memorized, progress stalls, or max_steps; return final metrics.

    Stopping rule: efficiency >= target_efficiency or excess loss <= target_excess_bits
    ("converged"); best memorized bits grew by less than min_improvement (relative) over the
    last ``patience`` steps ("plateau"); or ``max_steps``. Patience is counted from the best
    value, so a loss plateau shorter than ``patience`` that ends in a drop does not stop a run.

    Args:
        cfg: the trial's configuration.
        report: called as report(metrics, state) after each evaluation; state is not None when a
            checkpoint is due (every ``checkpoint_every`` steps, and at the end) so the caller can
            persist it.
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
    data = make_random_sequences(cfg.data, cfg.seed)  # (N, T)
    model = build_model(cfg.model, vocab_size=cfg.data.vocab_size, block_size=cfg.data.seq_len)
    floor_bits = sequence_floor_bits(data)
    n_params = count_params(model)
    model.to(device)
    data = data.to(device)
    inputs = with_bos(data, model.bos_id)
    peak = cfg.optim.peak_lr(cfg.model.d_model)
    opt = make_optimizer(model, cfg.optim, lr_at(0, peak, cfg.optim, cfg.max_steps))
    state = resume or TrainState()
    if resume is not None:
        model.load_state_dict(resume.model)
        opt.load_state_dict(resume.optimizer)  # moves the moments to the parameters' device
    N, T = data.shape
    batches = BatchOrder(N, cfg.optim.batch_size, cfg.seed)
    loss_sum = torch.zeros((), device=device)  # running train loss (nats/token), kept on device
    loss_steps = 0
    metrics: dict[str, Any] = {}
    model.train()
    t0 = time.perf_counter()
    while state.step < cfg.max_steps:
        idx = batches(state.step)
        x, y = (inputs, data) if idx is None else (inputs[idx], data[idx])
        lr = lr_at(state.step, peak, cfg.optim, cfg.max_steps)
        loss_sum += optimizer_step(opt, model, model(x), y, lr, cfg.optim.grad_clip)
        loss_steps += 1
        state.step += 1
        state.tokens_seen += x.size(0) * T
        if state.step % cfg.eval_every and state.step < cfg.max_steps:
            continue

        t1 = time.perf_counter()
        state.train_seconds += t1 - t0
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
        stop_reason = _stop_reason(cfg, state, summary)
        t0 = time.perf_counter()
        state.eval_seconds += t0 - t1
        metrics = {
            "step": state.step,
            "tokens_seen": state.tokens_seen,
            "epochs": state.tokens_seen / (N * T),
            "lr": lr,
            "train_loss": loss_sum.item() / max(loss_steps, 1) / LN2,  # bits/token
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
        }
        if stop_reason:
            metrics["stop_reason"] = stop_reason
        loss_sum.zero_()
        loss_steps = 0
        due = cfg.checkpoint_every and (state.step % cfg.checkpoint_every == 0 or stop_reason)
        if due:
            state.stop_reason, state.final_metrics = stop_reason, metrics
            # copies, not views: the caller may keep the state while training goes on
            state.model = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
            state.optimizer = copy.deepcopy(opt.state_dict())
        report(metrics, state if due else None)
        if stop_reason:
            break
    return metrics


def _stop_reason(cfg: TrainConfig, state: TrainState, summary: dict[str, float]) -> str:
    if (
        summary["efficiency"] >= cfg.target_efficiency
        or summary["excess_bits_per_token"] <= cfg.target_excess_bits
    ):
        return "converged"
    if state.step >= cfg.max_steps:
        return "max_steps"
    if state.step - state.progress_step >= cfg.patience:
        return "plateau"
    return ""
