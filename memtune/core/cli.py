"""Command-line plumbing shared by every sweep and analysis entry point.

Bad input ends in one line on stderr naming what is wrong and what is allowed, and exit code
2, never a traceback: researchers launch these from job scripts and read the last line.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from memtune.core.config import ConfigError

EXIT_USAGE = 2


class UsageError(ConfigError):
    """Bad command-line input outside the configs (paths, flags)."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse that reports errors as one line instead of usage + message."""

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def run_cli(main: Callable[[list[str] | None], int], argv: list[str] | None = None) -> None:
    """Run ``main`` and turn ``ConfigError`` into one line and exit code 2."""
    try:
        code = main(argv)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE) from None
    raise SystemExit(code)
