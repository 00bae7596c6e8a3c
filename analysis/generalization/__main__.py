"""python -m analysis.generalization PATH: one-line errors and exit code 2 on bad input."""

import sys

from analysis.generalization import main
from memtune.core.cli import run_cli

run_cli(main, sys.argv[1:])
