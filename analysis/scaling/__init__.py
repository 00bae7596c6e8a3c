"""Memorization scaling-law analysis (seed 000): fit log P(z) over epochs and seed-set size.

``python -m analysis.scaling PATH`` (see ``report.py`` for every option); ``run_sweep`` calls
``analyze_experiment`` on a finished scaling experiment.
"""

from analysis.scaling.report import analyze, analyze_experiment, main

__all__ = ["analyze", "analyze_experiment", "main"]
