"""The Ray Tune boundary: the only part of memtune that imports Ray.

sweep.py (``run_sweep`` in steps: parse, plan, check, run, analyse; the shared flags),
trainable.py (one trainable factory for every registered experiment), records.py (per-trial
tables in the store), searchers.py (``ThresholdSearcher``), tensorboard.py. What a sweep runs is
planned without Ray: grid.py (presets as ``Sweep``/``Grid``, ``expand``), overrides.py
(``--set``), plan.py (``--dry-run``). The store's own metadata (``memtune.json``, lineage) is
``memtune.core.store``. Importing this package imports no Ray; sweep.py imports it when a sweep
runs.
"""
