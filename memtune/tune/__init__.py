"""The Ray Tune boundary: the only part of memtune that imports Ray.

sweep.py (``run_sweep``, the shared flags, presets as ``Sweep``/``Grid``), trainable.py (one
trainable factory for every registered experiment), records.py (per-trial tables in the store),
searchers.py (``ThresholdSearcher``). Importing this package imports no Ray; its modules do.
"""
