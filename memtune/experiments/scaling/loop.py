"""The training loop of the memorization scaling law (seed 000): plain torch, no Ray.

``train_scaling(cfg, report, resume)`` trains a GPT on one seed set of ``cfg.seed_set_tokens``
tokens up to the largest epoch count of ``cfg.eval_epochs`` and, as it passes each count,
measures P(z) on the target documents (inside the seed set) and on the control documents (never
trained on), and calls ``report(metrics, state)``. One trial therefore gives one row per epoch
count; with the constant learning rate of the default recipe (``OptimConfig.min_lr_frac = 1``)
the model after e epochs is the one a run of exactly e epochs would give.

P(z), precisely. For a document z = (z_1 .. z_T) split into a prompt of ``prefix_len`` = k
tokens and a continuation of T - k tokens, and a model p,

    pz(z) = 1 / (T - k) * sum_{t = k+1}^{T} p(z_t | z_1 .. z_{t-1}),

the mean probability the model gives each continuation token given everything before it
(teacher forcing; the first token is predicted from BOS). ``mean_pz`` is pz averaged over the
targets, ``mean_pz_control`` over the controls, and ``pz_gap = mean_pz - mean_pz_control``: the
controls get only what the model generalized, the targets that plus what it memorized. For the
Markov corpus, ``mean_pz_source`` is the same average with the true source probabilities: what a
model that learned the language perfectly, and memorized nothing, would score.

    python -c "from memtune.experiments.scaling.loop import train_scaling; \
from memtune.experiments.scaling.config import ScalingConfig; \
print(train_scaling(ScalingConfig(eval_epochs=(1, 10)))[-1])"
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from memtune.core.corpus import make_seed_set
from memtune.core.data import with_bos
from memtune.core.loop import LoopMeter, LoopState
from memtune.core.metrics import evaluating, token_log_probs
from memtune.core.models import GPT, build_model, count_params
from memtune.core.optim import BatchOrder, lr_at, make_optimizer, optimizer_step
from memtune.experiments.scaling.config import ScalingConfig

Report = Callable[[dict[str, Any], "LoopState | None"], None]


def pz_per_document(probs: torch.Tensor | np.ndarray, prefix_len: int) -> np.ndarray:
    """pz of each document: the mean of its continuation's token probabilities.

    Args:
        probs: (B, T) probability of each token given the ones before it.
        prefix_len: k, the prompt tokens left out of the mean.
    Returns:
        (B,) pz in [0, 1].
    """
    p = probs.detach().cpu().numpy() if isinstance(probs, torch.Tensor) else np.asarray(probs)
    return p[:, prefix_len:].astype(np.float64).mean(axis=1)


def continuation_bits(probs: torch.Tensor | np.ndarray, prefix_len: int) -> float:
    """Mean code length of the continuation tokens, bits per token (the loss, for reference)."""
    p = probs.detach().cpu().numpy() if isinstance(probs, torch.Tensor) else np.asarray(probs)
    return float(-np.log2(np.maximum(p[:, prefix_len:].astype(np.float64), 1e-300)).mean())


def document_token_probs(model: GPT, docs: torch.Tensor) -> torch.Tensor:
    """Token probabilities of documents (B, T) under the model, (B, T), teacher forced."""
    with evaluating(model):
        return token_log_probs(model(with_bos(docs, model.bos_id)), docs).exp()


def train_scaling(
    cfg: ScalingConfig,
    report: Report | None = None,
    resume: LoopState | None = None,
    device: str = "cpu",
) -> list[dict[str, Any]]:
    """Train on one seed set, reporting P(z) after every epoch count of ``cfg.eval_epochs``.

    Every document is seen exactly once per epoch (``BatchOrder``: one permutation per epoch,
    the batch size divides the seed set), so after e epochs each target was trained on e times.

    Args:
        cfg: the trial's configuration.
        report: called as report(metrics, state) at each epoch count; state is not None when
            ``cfg.checkpoint`` is set, so the caller can persist it.
        resume: a state from ``LoopState.load`` to continue from.
        device: where to train ("cpu", "cuda", ...).
    Returns:
        the reported metrics, one dict per epoch count reached.
    """
    report = report or (lambda metrics, state: None)
    seed_set = make_seed_set(cfg.corpus, cfg.seed_set_tokens, cfg.seed)
    torch.manual_seed(cfg.seed)
    T, k = cfg.corpus.doc_len, cfg.corpus.prefix_len
    model = build_model(cfg.model, vocab_size=seed_set.vocab_size, block_size=T)
    n_params = count_params(model)
    model.to(device)
    data = seed_set.train.to(device)  # (N, T)
    inputs = with_bos(data, model.bos_id)
    targets, controls = seed_set.targets.to(device), seed_set.controls.to(device)
    N = data.size(0)
    batches = BatchOrder(N, cfg.optim.batch_size, cfg.seed)
    max_steps = batches.per_epoch * cfg.eval_epochs[-1]
    due = {e * batches.per_epoch: e for e in cfg.eval_epochs}
    peak = cfg.optim.peak_lr(cfg.model.d_model)
    opt = make_optimizer(model, cfg.optim, lr_at(0, peak, cfg.optim, max_steps))
    state = resume or LoopState()
    if resume is not None:
        resume.restore(model, opt)

    source: dict[str, float] = {}
    if seed_set.targets_source_probs is not None:
        source = {
            "mean_pz_source": float(pz_per_document(seed_set.targets_source_probs, k).mean()),
            "mean_pz_source_control": float(
                pz_per_document(seed_set.controls_source_probs, k).mean()
            ),
            "source_entropy_bits": float(seed_set.entropy_bits),
        }
    meter = LoopMeter(state, device)
    records: list[dict[str, Any]] = []
    model.train()
    while state.step < max_steps:
        idx = batches(state.step)
        x, y = (inputs, data) if idx is None else (inputs[idx], data[idx])
        lr = lr_at(state.step, peak, cfg.optim, max_steps)
        loss = optimizer_step(opt, model, model(x), y, lr, cfg.optim.grad_clip)
        meter.add(loss, tokens=x.size(0) * T)
        if state.step not in due:
            continue

        meter.eval_started()
        p_targets = document_token_probs(model, targets)
        p_controls = document_token_probs(model, controls)
        pz_t = float(pz_per_document(p_targets, k).mean())
        pz_c = float(pz_per_document(p_controls, k).mean())
        meter.eval_finished()
        metrics = {
            "epochs": due[state.step],
            "step": state.step,
            "tokens_seen": state.tokens_seen,
            "mean_pz": pz_t,
            "mean_pz_control": pz_c,
            "pz_gap": pz_t - pz_c,
            **source,
            "target_loss_bits": continuation_bits(p_targets, k),
            "control_loss_bits": continuation_bits(p_controls, k),
            "train_loss": meter.take_train_loss_bits(),  # bits/token
            "lr": lr,
            "n_params": n_params,
            "n_docs": N,
            "train_seconds": state.train_seconds,
            "eval_seconds": state.eval_seconds,
        }
        keep = cfg.checkpoint and state.step < max_steps
        if keep:
            state.snapshot(model, opt)
        records.append(metrics)
        report(metrics, state if keep else None)
    return records
