"""The experiments, one package each, found by the registry instead of a hand-kept list.

A package here that defines ``EXPERIMENT = Experiment(...)`` in its ``__init__.py`` is an
experiment: ``python sweeps/<name>.py`` runs it, ``python -m analysis.<name>`` analyses it, and
the shared tests (smoke sweep, bad input, store corruption, start-up) cover it. No experiment
imports another; what two share lives in ``memtune.core``. Each ``__init__`` imports only its
config, so finding every experiment costs no torch import.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from memtune.core.config import ConfigError
from memtune.core.experiment import Experiment


@cache
def registry() -> dict[str, Experiment]:
    """Every experiment package under ``memtune/experiments``, by name."""
    found: dict[str, Experiment] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if not info.ispkg or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        exp = getattr(module, "EXPERIMENT", None)
        if not isinstance(exp, Experiment):
            raise ConfigError(f"{module.__name__} defines no EXPERIMENT = Experiment(...)")
        if exp.name != info.name:
            raise ConfigError(f"{module.__name__}: EXPERIMENT.name is {exp.name!r}, not its folder")
        found[exp.name] = exp
    return found


def get(name: str) -> Experiment:
    """The experiment called ``name``; an unknown name fails naming the known ones."""
    experiments = registry()
    if name not in experiments:
        raise ConfigError(f"unknown experiment {name!r}; allowed: {', '.join(experiments)}")
    return experiments[name]
