"""What every analysis shares: the store as a tidy table (load.py), least squares with
intervals (fit.py), the command line (cli.py) and figure helpers (figures.py). No Ray is
imported until an experiment store is actually read, and nothing here trains.
"""
