"""What an experiment declares so that the shared machinery can run it without naming it.

Each experiment package (``memtune/experiments/<name>/__init__.py``) holds one ``EXPERIMENT``; the
registry (``memtune.experiments.registry``) finds them, the trainable factory
(``memtune.tune.trainable``) adapts the loop to Tune, ``run_sweep`` runs the sweep and then the
analysis module, and the tests parametrize over the registry. Adding an experiment therefore
edits no shared file. Loops and state classes are named by import path ("module:attribute"),
so the sweep's driver never imports torch: only the trial's worker does.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from memtune.core.config import ConfigError


def import_object(path: str) -> Any:
    """The object named by ``"package.module:attribute"``."""
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)


@dataclass(frozen=True)
class Experiment:
    """One experiment: its name, config class, loop, and where its results are analysed.

    The loop is called in the trial's worker as ``loop(cfg, report=..., device=...)`` plus
    ``resume=`` when ``state`` is set. It calls ``report(metrics, checkpoint=None, records=None)``
    after each evaluation: ``checkpoint``, when given, has ``save(directory)`` and goes into a
    Tune checkpoint; ``records``, a DataFrame, is appended to ``records_file`` in the trial's
    folder of the experiment store.
    """

    name: str  # = sweeps/<name>.py = Ray experiment name prefix = analysis.<name>
    config: type  # the trial's config dataclass (a ConfigBase: to_dict/from_dict)
    loop: str  # "module:function", imported in the worker
    state: str = ""  # "module:Class" with load(directory), for loops that resume; "" = none
    analysis: str = ""  # the analysis module; "" means analysis.<name>
    records_file: str = ""  # per-trial table appended at each report (zipf); "" = none
    about: str = ""  # one line: the seed and what is measured
    # TensorBoard's x-axis: the reported metric that counts training (Tune's timesteps_total)
    x_axis: str = "step"
    # the metrics a researcher reads first: the progress table and TensorBoard's HParams view
    headline: tuple[str, ...] = ()
    # (reported count, config attribute holding its budget): the progress table's share of the
    # budget done and time left (memtune.core.eta); () = a loop without a fixed budget
    budget: tuple[str, ...] = ("step", "max_steps")

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ConfigError(f"experiment name must be an identifier, got {self.name!r}")
        if self.budget and len(self.budget) != 2:
            raise ConfigError(f"experiment {self.name}: budget is (count metric, config field)")
        if ":" not in self.loop or (self.state and ":" not in self.state):
            raise ConfigError(f"experiment {self.name}: loop and state are 'module:attribute'")

    @property
    def analysis_module(self) -> str:
        return self.analysis or f"analysis.{self.name}"
