"""Threshold analysis (seed 004): the largest N memorized per group, by architecture and size.

``python -m analysis.threshold PATH`` (see ``report.py`` for every option); ``run_sweep`` calls
``analyze_experiment`` on a finished threshold experiment.
"""

from analysis.threshold.report import analyze, analyze_experiment, main

__all__ = ["analyze", "analyze_experiment", "main"]
