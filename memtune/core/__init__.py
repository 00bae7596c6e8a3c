"""The shared core every experiment builds on: no Ray, and no experiment imported.

config.py (config base, validators, the shared ModelConfig/OptimConfig/CorpusConfig), cli.py
(one-line errors), experiment.py (the declaration the registry finds), models.py (the GPT),
param_counts.py (closed-form sizes, no torch), data.py, corpus.py (Markov and text sources),
metrics.py (bits, one log-prob helper), optim.py (schedule, step, batch order), loop.py (the
bookkeeping every loop shares), bisection.py (the threshold search's pure logic).
"""
