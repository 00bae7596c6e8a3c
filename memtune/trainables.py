"""Tune trainables: the thin adapter between memtune's plain-torch loops and Ray Tune.

Each trainable rebuilds its config from the plain dict Tune hands it, restores from Tune's
checkpoint when there is one, and passes its loop a report callback that forwards metrics (and,
when due, a checkpoint) to ``tune.report``. Nothing else in ``memtune`` imports ``ray.tune``
except ``memtune.sweep``, which launches the Tuner, and ``memtune.searchers`` (a Tune Searcher).

torch and the loops are imported inside the trainables, in the trial's worker: the sweep's
driver imports this module only to name the trainable, and importing torch there would add
seconds to every sweep's start-up for nothing (``benchmarks/run.py`` measures it).
"""

from __future__ import annotations

import tempfile
from typing import TYPE_CHECKING, Any

from ray import tune

if TYPE_CHECKING:
    from memtune.train import TrainState


def _setup() -> str:
    """One torch thread per CPU Tune reserved, and the device: the trial's GPU if Ray gave one.

    Two 1-CPU trials out-train one 2-thread trial; fractional GPUs let tiny trials share one.
    """
    import ray
    import torch

    cpus = tune.get_context().get_trial_resources().required_resources.get("CPU", 1)
    torch.set_num_threads(max(1, int(cpus)))
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
    from memtune.train import TrainState

    if checkpoint := tune.get_checkpoint():
        with checkpoint.as_directory() as d:
            return TrainState.load(d)
    return None


def capacity_trainable(config: dict[str, Any]) -> None:
    """One capacity trial: a GPT memorizing one random data set (seed 002)."""
    from memtune.config import TrainConfig
    from memtune.train import train

    device = _setup()
    cfg = TrainConfig.from_dict(config)
    train(cfg, report=_tune_report, resume=_checkpointed_state(), device=device)


def scaling_trainable(config: dict[str, Any]) -> None:
    """One scaling trial: a GPT on one seed set, P(z) reported at each epoch count (seed 000)."""
    from memtune.scaling import train_scaling
    from memtune.scaling_config import ScalingConfig

    device = _setup()
    cfg = ScalingConfig.from_dict(config)
    train_scaling(cfg, report=_tune_report, resume=_checkpointed_state(), device=device)


def threshold_trainable(config: dict[str, Any]) -> None:
    """One threshold probe: does a model of a fixed budget learn N mappings exactly (seed 004)?"""
    from memtune.threshold import train_threshold
    from memtune.threshold_config import ThresholdConfig

    device = _setup()
    cfg = ThresholdConfig.from_dict(config)
    train_threshold(cfg, report=tune.report, device=device)  # short: no checkpoints


def zipf_trainable(config: dict[str, Any]) -> None:
    """One Zipf trial: a model on Zipf-sampled sequences, per-sequence records (seed 001).

    The records go to ``zipf_records.parquet`` in the trial directory of the experiment store
    (``RecordsFile``); the scalar metrics name the file and its rows.
    """
    from memtune.zipf import RecordsFile, ZipfState, train_zipf
    from memtune.zipf_config import ZipfConfig

    device = _setup()
    cfg = ZipfConfig.from_dict(config)
    resume = None
    if checkpoint := tune.get_checkpoint():
        with checkpoint.as_directory() as d:
            resume = ZipfState.load(d)
    storage = tune.get_context().get_storage()  # get_trial_dir() is a local staging folder
    records = RecordsFile(
        storage.storage_filesystem, storage.trial_fs_path, resume.step if resume else None
    )

    def report(metrics: dict[str, Any], state: ZipfState | None, rows: Any) -> None:
        if rows is not None:
            records.append(rows)  # before the checkpoint that says these rows exist
        _tune_report(metrics, state)

    train_zipf(cfg, report=report, resume=resume, device=device)


def predict_trainable(config: dict[str, Any]) -> None:
    """One memorization-prediction trial: a GPT on a corpus with duplicates, labelled (seed 003).

    The per-sequence tables of the last checkpoint (labels at every checkpoint, token
    log-probabilities, the corpus) are written as parquet files into a Tune checkpoint, which
    Tune persists to the experiment's storage (local, NFS or s3://) with the trial.
    ``tune.get_context().get_trial_dir()`` would not do: in Ray 2.60 it is the worker's local
    working directory under /tmp/ray/session_*, copied to storage only with
    ``SyncConfig(sync_artifacts=True)``.
    """
    from memtune.predict import train_predict
    from memtune.predict_config import PredictConfig

    device = _setup()
    cfg = PredictConfig.from_dict(config)

    def report(metrics: dict[str, Any], tables: Any) -> None:
        if tables is None:
            tune.report(metrics)
            return
        with tempfile.TemporaryDirectory() as tmp:
            for stem, table in tables.items():
                table.to_parquet(f"{tmp}/{stem}.parquet")
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(tmp))

    train_predict(cfg, report=report, device=device)  # minutes: no resumable checkpoints
