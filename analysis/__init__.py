"""Analyses of memtune experiments: ``python -m analysis.<experiment> PATH``.

``common/`` is shared; each experiment has one package (``capacity/``, ``threshold/``, ...)
with its fit, report and plots. They read stored results and never train.
"""
