"""Capacity analysis (seed 002): plateau of memorized bits, linear fit vs parameters.

``python -m analysis.capacity PATH`` (see ``report.py`` for every option); ``run_sweep`` calls
``analyze_experiment`` on a finished capacity experiment.
"""

from analysis.capacity.report import analyze, analyze_experiment, main

__all__ = ["analyze", "analyze_experiment", "main"]
