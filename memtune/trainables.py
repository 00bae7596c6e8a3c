"""Tune trainables: the thin adapter between memtune's plain-torch loops and Ray Tune.

Each trainable rebuilds its config from the plain dict Tune hands it, restores from Tune's
checkpoint when there is one, and passes ``train`` a report callback that forwards metrics (and,
when due, a checkpoint) to ``tune.report``. Nothing else in ``memtune`` imports ``ray.tune``
except ``memtune.sweep``, which launches the Tuner, and ``memtune.searchers`` (a Tune Searcher).
"""

from __future__ import annotations

import tempfile
from typing import Any

import ray
import torch
from ray import tune

from memtune.config import TrainConfig
from memtune.scaling import train_scaling
from memtune.scaling_config import ScalingConfig
from memtune.threshold import train_threshold
from memtune.threshold_config import ThresholdConfig
from memtune.train import TrainState, train


def _threads() -> int:
    """One torch thread per CPU Tune reserved: two 1-CPU trials out-train one 2-thread trial."""
    cpus = tune.get_context().get_trial_resources().required_resources.get("CPU", 1)
    return max(1, int(cpus))


def _device() -> str:
    """The GPU Ray assigned to this trial, if any (fractional GPUs let tiny trials share one)."""
    return "cuda" if ray.get_gpu_ids() and torch.cuda.is_available() else "cpu"


def _tune_report(metrics: dict[str, Any], state: TrainState | None) -> None:
    if state is None:
        tune.report(metrics)
        return
    with tempfile.TemporaryDirectory() as tmp:
        state.save(tmp)
        tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(tmp))


def _checkpointed_state() -> TrainState | None:
    """The state in Tune's checkpoint when this trial is restored or retried, else None."""
    if checkpoint := tune.get_checkpoint():
        with checkpoint.as_directory() as d:
            return TrainState.load(d)
    return None


def capacity_trainable(config: dict[str, Any]) -> None:
    """One capacity trial: a GPT memorizing one random data set (seed 002)."""
    torch.set_num_threads(_threads())
    cfg = TrainConfig.from_dict(config)
    train(cfg, report=_tune_report, resume=_checkpointed_state(), device=_device())


def scaling_trainable(config: dict[str, Any]) -> None:
    """One scaling trial: a GPT on one seed set, P(z) reported at each epoch count (seed 000)."""
    torch.set_num_threads(_threads())
    cfg = ScalingConfig.from_dict(config)
    train_scaling(cfg, report=_tune_report, resume=_checkpointed_state(), device=_device())


def threshold_trainable(config: dict[str, Any]) -> None:
    """One threshold probe: does a model of a fixed budget learn N mappings exactly (seed 004)?"""
    torch.set_num_threads(_threads())
    cfg = ThresholdConfig.from_dict(config)
    train_threshold(cfg, report=tune.report, device=_device())  # short: no checkpoints
