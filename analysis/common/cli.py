"""What every ``python -m analysis.<experiment>`` shares: its arguments, output folder, report.

``analysis_cli(experiment, doc, run)`` makes the two entry points of an analysis: ``main(argv)``
for the command line and ``analyze_experiment(path, out=None, **options)``, which ``run_sweep``
calls on a finished experiment. ``run(path, out_dir, **options)`` does the work and returns the
report to print and the files it wrote; options are the extra flags an analysis adds.

Several paths (``python -m analysis.capacity A B table.csv``) are analysed as one experiment:
the parser writes a join folder (``--out``, default ``./<experiment>_joint``) whose
``memtune.json`` lists the sources, and the analysis reads it like an experiment
(``analysis.common.load.read_store`` joins them, refusing different protocols). Its outputs go
into that folder; ``summary.json`` lists the sources (each experiment with the preset and
overrides it was run with, and the experiments an extended one grew from).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from analysis.common.jsonfile import write_json
from analysis.common.load import TABLE_SUFFIXES
from analysis.common.store import Store, is_uri
from memtune.core.cli import ArgumentParser, UsageError
from memtune.core.store import lineage, read_meta, write_meta

Run = Callable[..., tuple[str, list[str]]]


class AnalysisParser(ArgumentParser):
    """Parses PATH [PATH ...]; several paths become one join folder, given as ``args.path``."""

    experiment = ""

    def parse_args(self, *a: Any, **k: Any) -> Any:  # type: ignore[override]
        args = super().parse_args(*a, **k)
        args.path, args.out = join_paths(self.experiment, args.path, args.out)
        return args


def analysis_parser(experiment: str, doc: str) -> ArgumentParser:
    """PATH [PATH ...] (experiment directories, URIs or tables) and --out, the arguments of
    every fitter's CLI."""
    parser = AnalysisParser(prog=f"python -m analysis.{experiment}", description=doc.split("\n")[0])
    parser.experiment = experiment
    parser.add_argument(
        "path",
        nargs="+",
        help="experiment directory or URI, or a .csv/.parquet results table; several are "
        "analysed as one experiment (refused when their protocols differ)",
    )
    parser.add_argument(
        "--out",
        default=None,
        help="output folder (default: PATH/analysis; for an s3:// store, ./NAME_analysis; for "
        "several paths, ./EXPERIMENT_joint)",
    )
    return parser


def join_paths(experiment: str, paths: list[str], out: str | None) -> tuple[str, str | None]:
    """(path, out) to analyse: the one path, or a join folder listing several (then also out)."""
    if len(paths) == 1:
        return paths[0], out
    folder = Path(out) if out else Path.cwd() / f"{experiment}_joint"
    meta = read_meta(str(folder)) if folder.is_dir() else {}
    if folder.is_dir() and (
        any(folder.glob("experiment_state-*.json")) or (meta and "sources" not in meta)
    ):
        raise UsageError(f"--out {folder} is an experiment; give a new folder for the joint output")
    folder.mkdir(parents=True, exist_ok=True)
    sources = [Store.open(p).uri for p in paths]
    write_meta(str(folder.resolve()), {"experiment": experiment, "sources": sources})
    return str(folder.resolve()), str(folder.resolve())


def list_sources(path: str) -> list[dict[str, Any]]:
    """What an analysis read: every experiment (with its preset, overrides and parents) and
    table, for summary.json."""
    p = Store.open(path)
    out: list[dict[str, Any]] = []
    for src in read_meta(p.uri).get("sources") or [p.uri]:
        s = Store.open(src)
        if s.suffix in TABLE_SUFFIXES:
            out.append({"path": s.uri, "kind": "table"})
            continue
        for uri in lineage(s.uri):
            meta = read_meta(uri)
            entry = {"path": uri, "kind": "experiment"}
            entry.update({k: meta[k] for k in ("preset", "overrides", "parents") if k in meta})
            if all(uri != o["path"] for o in out):
                out.append(entry)
    return out


def record_sources(path: str, out: Path) -> None:
    """Add ``sources`` to the summary.json the analysis wrote in ``out``."""
    summary = out / "summary.json"
    if summary.is_file():
        data = json.loads(summary.read_text())
        data["sources"] = list_sources(path)
        write_json(summary, data)


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
        where = output_dir(path, out)
        report, outputs = run(path, where, **options)
        record_sources(path, where)
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
