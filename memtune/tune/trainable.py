"""One Tune trainable for every experiment: the thin adapter between a loop and Ray Tune.

``make_trainable(experiment)`` returns a function trainable that rebuilds the config from the
plain dict Tune hands it, restores the experiment's state from Tune's checkpoint when there is
one, and passes the loop a ``report`` that forwards metrics (with a checkpoint when the loop
gives one, and records to the trial's records file) to ``tune.report``.

torch and the loop are imported inside the trainable, in the trial's worker: the sweep's
driver only names the trainable, and importing torch there would add seconds to every sweep's
start-up for nothing (``benchmarks/run.py`` measures it).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from typing import Any

from ray import tune

from memtune.core.eta import BudgetClock
from memtune.core.experiment import Experiment, import_object


def _setup() -> str:
    """One torch thread per CPU Tune reserved, and the device: the trial's GPU if Ray gave one.

    Two 1-CPU trials out-train one 2-thread trial; fractional GPUs let tiny trials share one.
    """
    import ray
    import torch

    cpus = tune.get_context().get_trial_resources().required_resources.get("CPU", 1)
    torch.set_num_threads(max(1, int(cpus)))
    return "cuda" if ray.get_gpu_ids() and torch.cuda.is_available() else "cpu"


def _restored(state_path: str) -> Any:
    """The state in Tune's checkpoint when this trial is restored or retried, else None."""
    if not state_path:
        return None
    if checkpoint := tune.get_checkpoint():
        with checkpoint.as_directory() as d:
            return import_object(state_path).load(d)
    return None


def _trial_folder(store: str | None) -> tuple[Any, str]:
    """(pyarrow file system, path) of this trial's folder in the experiment store.

    ``store`` is the experiment's path or URI; its trial folders are named by the trial name
    (``run_sweep`` gives both the same creator). Only public Tune calls are used: the trial's
    name, or without a store its ``get_trial_dir()`` (a local staging folder, which Tune syncs
    to the store with checkpoints).
    """
    from pyarrow import fs as pafs

    context = tune.get_context()
    if not store:
        return pafs.LocalFileSystem(), context.get_trial_dir()
    if "://" in store:
        fs, base = pafs.FileSystem.from_uri(store)
    else:
        fs, base = pafs.LocalFileSystem(), store
    return fs, f"{base.rstrip('/')}/{context.get_trial_name()}"


def _budget_clock(experiment: Experiment, cfg: Any, resumed: bool) -> BudgetClock | None:
    """The trial's budget clock, or None when the experiment or the config has no budget."""
    if not experiment.budget:
        return None
    budget = getattr(cfg, experiment.budget[1], None)
    if not isinstance(budget, int | float) or budget <= 0:
        return None
    return BudgetClock(budget, resumed=resumed)


def make_trainable(
    experiment: Experiment, store: str | None = None
) -> Callable[[dict[str, Any]], None]:
    """The function trainable of ``experiment``, named ``<name>_trainable`` (Tune's trial ids
    and the stores written before the registry keep that name). ``store`` is the experiment's
    path or URI, where an experiment with a ``records_file`` writes each trial's records."""

    def trainable(config: dict[str, Any]) -> None:
        device = _setup()
        cfg = experiment.config.from_dict(config)
        loop = import_object(experiment.loop)
        kwargs: dict[str, Any] = {"device": device}
        resume = _restored(experiment.state)
        if experiment.state:
            kwargs["resume"] = resume
        records = None
        if experiment.records_file:
            from memtune.tune.records import RecordsFile

            fs, directory = _trial_folder(store)
            records = RecordsFile(
                fs, directory, experiment.records_file, resume.step if resume is not None else None
            )

        clock = _budget_clock(experiment, cfg, resumed=resume is not None)

        def report(metrics: dict[str, Any], checkpoint: Any = None, rows: Any = None) -> None:
            if experiment.x_axis in metrics:  # TensorBoard's x-axis: training, not report count
                metrics = {**metrics, "timesteps_total": metrics[experiment.x_axis]}
            if clock is not None and isinstance(metrics.get(experiment.budget[0]), int | float):
                metrics = {**metrics, **clock.progress(metrics[experiment.budget[0]])}
            if rows is not None and records is not None:
                records.append(rows)  # before the checkpoint that says these rows exist
            if checkpoint is None:
                tune.report(metrics)
                return
            with tempfile.TemporaryDirectory() as tmp:
                checkpoint.save(tmp)
                tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(tmp))

        loop(cfg, report=report, **kwargs)

    trainable.__name__ = trainable.__qualname__ = f"{experiment.name}_trainable"
    trainable.__doc__ = f"One {experiment.name} trial: {experiment.about}."
    return trainable
