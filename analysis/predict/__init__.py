"""Predict which training sequences get memorized (seed 003): features, classifiers, report.

``python -m analysis.predict PATH`` (see ``report.py`` for every option); ``run_sweep`` calls
``analyze_experiment`` on a finished predict experiment.
"""

from analysis.predict.report import analyze, analyze_experiment, main

__all__ = ["analyze", "analyze_experiment", "main"]
