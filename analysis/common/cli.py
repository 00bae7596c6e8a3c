"""What every ``python -m analysis.<experiment>`` shares: its arguments, output folder, report.

``analysis_cli(experiment, doc, run)`` makes the two entry points of an analysis: ``main(argv)``
for the command line and ``analyze_experiment(path, out=None, **options)``, which ``run_sweep``
calls on a finished experiment. ``run(path, out_dir, **options)`` does the work and returns the
report to print and the files it wrote; options are the extra flags an analysis adds.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from analysis.common.store import is_uri
from memtune.core.cli import ArgumentParser

Run = Callable[..., tuple[str, list[str]]]


def analysis_parser(experiment: str, doc: str) -> ArgumentParser:
    """PATH (experiment directory or table) and --out, the arguments of every fitter's CLI."""
    parser = ArgumentParser(prog=f"python -m analysis.{experiment}", description=doc.split("\n")[0])
    parser.add_argument("path", help="experiment directory, or a .csv/.parquet results table")
    parser.add_argument(
        "--out",
        default=None,
        help="output folder (default: PATH/analysis; for an s3:// store, ./NAME_analysis)",
    )
    return parser


def output_dir(path: str, out: str | None) -> Path:
    """--out, else PATH/analysis for an experiment or <table>_analysis beside a table file; for
    a store at a URI (s3://...), ./<name>_analysis here (outputs are written locally)."""
    if out:
        return Path(out)
    if is_uri(path):
        return Path.cwd() / f"{str(path).rstrip('/').rsplit('/', 1)[-1]}_analysis"
    p = Path(path)
    return p.parent / f"{p.stem}_analysis" if p.is_file() else p / "analysis"


def print_report(report: str, outputs: list[str]) -> None:
    print(report)
    print("\n[memtune] wrote " + "\n[memtune]       ".join(outputs))


def analysis_cli(
    experiment: str,
    doc: str,
    run: Run,
    add_options: Callable[[ArgumentParser], None] | None = None,
) -> tuple[Callable[..., int], Callable[[list[str] | None], int]]:
    """(analyze_experiment, main) of one analysis; see the module docstring."""

    def analyze_experiment(path: str, out: str | None = None, **options: Any) -> int:
        """Load, analyse and print; the sweep calls this on its own experiment when it ends."""
        report, outputs = run(path, output_dir(path, out), **options)
        print_report(report, outputs)
        return 0

    def main(argv: list[str] | None = None) -> int:
        parser = analysis_parser(experiment, doc)
        if add_options is not None:
            add_options(parser)
        options = vars(parser.parse_args(argv))
        path, out = options.pop("path"), options.pop("out")
        return analyze_experiment(path, out, **options)

    return analyze_experiment, main
