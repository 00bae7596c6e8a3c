"""Zipf-frequency memorization analysis (seed 001): loss and accuracy vs presentations.

``python -m analysis.zipf PATH`` (see ``report.py`` for every option); ``run_sweep`` calls
``analyze_experiment`` on a finished zipf experiment.
"""

from analysis.zipf.report import analyze, analyze_experiment, main

__all__ = ["analyze", "analyze_experiment", "main"]
