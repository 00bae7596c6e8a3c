"""What TensorBoard and the progress table show of a sweep: training steps, swept config, headline.

Tune's own TensorBoard logger puts the report count (1, 2, 3...) on every curve's x-axis unless
a result carries ``timesteps_total``; the trainable sets it from the experiment's ``x_axis``
metric (training steps; epochs for the scaling law), so curves are drawn against training. Its
HParams entry holds the evaluated config values and every metric; ``SweepTBXLogger`` writes
instead each trial's swept config (a model dict by its name) with the experiment's headline
metrics, which is what the HParams view compares. ``progress_reporter`` is the console table
with the same columns (Tune's default prints the model dict cut off and the first four metrics).

    tensorboard --logdir results/capacity_default_20261122-061500
"""

from __future__ import annotations

import sys
from typing import Any

from ray.tune import CLIReporter
from ray.tune.logger import TBXLoggerCallback

from memtune.core.eta import BUDGET_USED, TIME_LEFT

PREFIX = "ray/tune/"  # Tune's tag prefix for reported metrics


def lookup(config: dict[str, Any], path: str) -> Any:
    """The value at ``"a/b/c"`` of a nested config (None when absent)."""
    v: Any = config
    for k in path.split("/"):
        if not isinstance(v, dict) or k not in v:
            return None
        v = v[k]
    return v


def hparam_value(v: Any) -> bool | int | float | str:
    """A value TensorBoard's HParams plugin takes: numbers and strings; the rest as text."""
    return v if isinstance(v, bool | int | float | str) else str(v)


def import_tensorboardx_without_torch() -> None:
    """Import tensorboardX in a process that has not imported torch, without importing torch.

    ``tensorboardX.writer`` imports torch at module level only to name a type in annotations
    (``numpy_compatible``), and falls back to numpy when torch is missing. In the sweep's driver
    that import cost ~2 s of start-up before the first trial (measured: 2.35 s of 32.8 in a
    profile of the smoke sweep's driver) and, on 2 cores, CPU the trials' workers need for their
    own torch import. While tensorboardX loads, ``sys.modules["torch"] = None`` makes ``import
    torch`` raise ImportError (the documented way to block an import); afterwards torch imports
    normally again wherever it is needed. A process that already has torch keeps it.
    """
    if "torch" in sys.modules or "tensorboardX.writer" in sys.modules:
        return
    sys.modules["torch"] = None  # type: ignore[assignment]
    try:
        import tensorboardX.writer  # noqa: F401
    finally:
        del sys.modules["torch"]


class SweepTBXLogger(TBXLoggerCallback):
    """Tune's TensorBoard logger with HParams of the swept config and the headline metrics.

    Args:
        params: config path ("model/name", "data/n_seqs") -> the name HParams shows.
        metrics: headline metric names, as reported.
    """

    def __init__(self, params: dict[str, str], metrics: tuple[str, ...]) -> None:
        import_tensorboardx_without_torch()  # Tune's __init__ imports tensorboardX
        super().__init__()
        self.params, self.metrics = dict(params), tuple(metrics)

    def log_trial_end(self, trial: Any, failed: bool = False) -> None:
        """Tune's, without its ``trial.evaluated_params`` gate: a sweep that hands Tune its grid
        points (``points_to_evaluate``, how presets with paired axes run) has none, and Tune
        would then write no HParams at all. Ours name the swept fields themselves."""
        from ray.tune.logger.tensorboardx import VALID_SUMMARY_TYPES
        from ray.tune.utils import flatten_dict

        if trial in self._trial_writer:
            if self._trial_result.get(trial):
                flat = flatten_dict(self._trial_result[trial], delimiter="/")
                kinds = tuple(VALID_SUMMARY_TYPES)
                self._try_log_hparams(
                    trial, {k: v for k, v in flat.items() if isinstance(v, kinds)}
                )
            self._trial_writer[trial].close()
            del self._trial_writer[trial]
            del self._trial_result[trial]

    def _try_log_hparams(self, trial: Any, result: dict[str, Any]) -> None:
        from tensorboardX.summary import hparams

        hp = {
            name: hparam_value(v)
            for path, name in self.params.items()
            if (v := lookup(trial.config, path)) is not None
        }
        metric = {PREFIX + m: result[PREFIX + m] for m in self.metrics if PREFIX + m in result}
        writer = self._trial_writer[trial].file_writer
        for summary in hparams(hparam_dict=hp, metric_dict=metric):
            writer.add_summary(summary)


def progress_reporter(params: dict[str, str], metrics: tuple[str, ...], x_axis: str) -> Any:
    """The console table: trial, status, swept config (a model by name), step, the share of its
    budget done and the minutes left at its own pace (``memtune.core.eta``; a column shows once
    a trial reports it), headline."""
    progress = {BUDGET_USED: "budget used", TIME_LEFT: "min left"}
    return CLIReporter(
        parameter_columns=dict(params),
        metric_columns={x_axis: x_axis, **progress, **{m: m for m in metrics}},
        max_report_frequency=30,
        sort_by_metric=False,
    )
