"""What every ``python -m analysis.<experiment>`` shares: its arguments, output folder, report."""

from __future__ import annotations

from pathlib import Path

from memtune.cli import ArgumentParser


def analysis_parser(experiment: str, doc: str) -> ArgumentParser:
    """PATH (experiment directory or table) and --out, the arguments of every fitter's CLI."""
    parser = ArgumentParser(prog=f"python -m analysis.{experiment}", description=doc.split("\n")[0])
    parser.add_argument("path", help="experiment directory, or a .csv/.parquet results table")
    parser.add_argument("--out", default=None, help="output folder (default: PATH/analysis)")
    return parser


def output_dir(path: str, out: str | None) -> Path:
    """--out, else PATH/analysis for an experiment or <table>_analysis beside a table file."""
    if out:
        return Path(out)
    p = Path(path)
    return p.parent / f"{p.stem}_analysis" if p.is_file() else p / "analysis"


def print_report(report: str, outputs: list[str]) -> None:
    print(report)
    print("\n[memtune] wrote " + "\n[memtune]       ".join(outputs))
