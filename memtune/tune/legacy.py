"""Module paths of stores written before the one-package-per-experiment layout.

Tune pickles parts of a sweep into its experiment store (``tuner.pkl`` holds the trial namer of
``memtune.sweep``; a threshold search's snapshot holds ``memtune.searchers.ThresholdSearcher``
and ``memtune.threshold_search.GroupSearch``). ``Tuner.restore`` unpickles them by module path,
so reading such a store (``analysis.common.load``) and ``--resume`` of it need the old paths to
name the new modules. No Ray is imported here.
"""

from __future__ import annotations

import importlib
import sys

MOVED = {
    "memtune.sweep": "memtune.tune.sweep",
    "memtune.searchers": "memtune.tune.searchers",
    "memtune.threshold_search": "memtune.core.bisection",
}


def alias_moved_modules() -> None:
    """Make each old module path import as its new module (only where nothing else took it)."""
    for old, new in MOVED.items():
        sys.modules.setdefault(old, importlib.import_module(new))
