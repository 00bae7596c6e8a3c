"""Generalization analysis (Morris et al. 2025, second half): mem_U, held-out loss and MI vs N.

``python -m analysis.generalization PATH`` (``report.py`` says what is judged and how);
``run_sweep`` calls ``analyze_experiment`` on a finished generalization experiment.
"""

from analysis.generalization.report import analyze, analyze_experiment, main

__all__ = ["analyze", "analyze_experiment", "main"]
