"""docs/results.md from committed summaries, so that a rerun cannot leave an old figure behind.

A run behind the docs leaves a small committed summary, ``docs/data/<experiment>_<preset>.json``:
the analysis's ``summary.json`` and its printed report, with the command that ran the sweep, the
commit it ran at and the date. docs/results.md is then generated from those files by one
command, and ``tests/test_results_doc.py`` fails when the committed page differs from what they
generate. Claims whose runs have no summary yet stay hand-written below a marker in the same
page, each section saying so and naming the commit its figures are from; the generator keeps that
part as it is.

    python -m analysis.results add results/capacity_default_<time> --command "python sweeps/capacity.py"
    python -m analysis.results                 # rewrite docs/results.md
    python -m analysis.results --check         # exit 1 when docs/results.md is stale

``add`` runs the experiment's own analysis on the store (a real analysis of a real run, never
figures typed in), into a temporary folder, and writes the summary file; then regenerate.
"""  # noqa: E501

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from analysis.common.jsonfile import write_json
from memtune.core.cli import UsageError, run_cli

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "docs" / "data"
PAGE = ROOT / "docs" / "results.md"
# everything below this line is hand-written and copied as it is
STATIC_MARKER = "<!-- hand-written below: not yet regenerated from a summary -->"
TITLE = "# What each seed claimed, and what memtune measured"


def summary_name(experiment: str, preset: str) -> str:
    """The summary's file name: one per experiment and preset (a rerun replaces it)."""
    return f"{experiment}_{preset}.json"


def analyse_store(experiment: str, path: str) -> tuple[str, dict[str, Any]]:
    """(printed report, summary) of the experiment's analysis of ``path``, run into a
    temporary folder so that the store is left as it was."""
    module = importlib.import_module(f"analysis.{experiment}")
    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(io.StringIO()) as out:
        module.analyze_experiment(path, tmp)
        summary = json.loads((Path(tmp) / "summary.json").read_text())
    report = out.getvalue().split("\n[memtune] wrote ", 1)[0].rstrip()
    summary.pop("outputs", None)  # temporary paths
    return report, summary


def add(path: str, command: str, data: Path | None = None) -> Path:
    """Analyse the experiment at ``path`` and write its summary file under ``data``.

    Args:
        path: an experiment folder written by ``python sweeps/<experiment>.py``.
        command: the command that ran the sweep, as a reader would type it.
        data: the folder of summaries (docs/data).
    Returns:
        The summary file written.
    """
    from memtune.core.store import code_version, read_meta

    meta = read_meta(path)
    experiment, preset = meta.get("experiment"), meta.get("preset")
    if experiment and not preset and meta.get("sources"):
        # a join (python -m analysis.<experiment> PATH PATH): its sources' presets, joined
        presets = [read_meta(src).get("preset") for src in meta["sources"]]
        preset = "+".join(dict.fromkeys(p for p in presets if p)) or None
    if not experiment or not preset:
        raise UsageError(f"{path}: no memtune.json naming its experiment and preset")
    report, summary = analyse_store(experiment, path)
    here = code_version() or "unknown"  # the code analysing now (a sweep records its own)
    # the code the sweep ran (its memtune.json, or its sources' for a join); else the analysis'
    ran = [meta.get("commit")] + [read_meta(src).get("commit") for src in meta.get("sources", [])]
    ran = list(dict.fromkeys(c for c in ran if c))
    entry = {
        "experiment": experiment,
        "preset": preset,
        "command": command,
        "analysis_command": f"python -m analysis.{experiment} {Path(path).name}",
        "commit": ", ".join(ran) if ran else f"{here} (the analysis'; the run's not recorded)",
        "analysis_commit": here,
        "date": time.strftime("%Y-%m-%d", time.gmtime(Path(path).stat().st_mtime)),
        "report": report,
        "summary": summary,
    }
    data = data or DATA
    data.mkdir(parents=True, exist_ok=True)
    target = data / summary_name(experiment, preset)
    write_json(target, entry)
    return target


def load_summaries(data: Path | None = None) -> list[dict[str, Any]]:
    """Every committed summary (in ``data``, default docs/data), in file-name order."""
    return [json.loads(p.read_text()) for p in sorted((data or DATA).glob("*.json"))]


def render_summary(s: dict[str, Any]) -> str:
    """One generated section: the run's provenance, then its analysis's report as printed."""
    n = s["summary"].get("n_trials")
    trials = f", {n} trials" if n is not None else ""
    return "\n".join([
        f"### {s['experiment']}, preset `{s['preset']}`",
        "",
        f"`{s['command']}` at commit {s['commit']} ({s['date']}{trials}); the report of "
        f"`{s['analysis_command']}` on its store:",
        "",
        "```",
        s["report"],
        "```",
    ])  # fmt: skip


def generated(summaries: list[dict[str, Any]]) -> str:
    """The generated part of docs/results.md, up to and including the static marker."""
    lines = [
        TITLE,
        "",
        "<!-- generated by `python -m analysis.results` from docs/data/*.json: edit the",
        "     summaries or the hand-written part below the marker, not this part -->",
        "",
        "## Regenerated from committed summaries",
        "",
        "Each section is a run's summary in docs/data, rendered by `python -m analysis.results`:",
        "the command, the commit, and the analysis's report of that run, so no figure here can",
        "outlive the run it came from.",
        "",
    ]
    if not summaries:
        lines += ["No summary is committed yet: every figure on this page is hand-written.", ""]
    for s in summaries:
        lines += [render_summary(s), ""]
    return "\n".join(lines) + STATIC_MARKER + "\n"


def static_part(page: Path | None = None) -> str:
    """The hand-written part of the committed page (after the marker), as it is."""
    page = page or PAGE
    text = page.read_text() if page.exists() else ""
    return text.split(STATIC_MARKER + "\n", 1)[1] if STATIC_MARKER in text else ""


def render(data: Path | None = None, page: Path | None = None) -> str:
    """The whole page: generated from the summaries, then the hand-written part."""
    return generated(load_summaries(data)) + static_part(page)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis.results", description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/results.md is stale")
    sub = parser.add_subparsers(dest="cmd")
    a = sub.add_parser("add", help="analyse an experiment and commit its summary to docs/data")
    a.add_argument("path", help="the experiment folder")
    a.add_argument("--command", required=True, help="the command that ran the sweep")
    args = parser.parse_args(argv)
    if args.cmd == "add":
        print(f"[memtune] wrote {add(args.path, args.command)}; now: python -m analysis.results")
        return 0
    text = render()
    if args.check:
        if PAGE.read_text() != text:
            print(f"{PAGE} is stale: run python -m analysis.results", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(text)
    print(f"[memtune] wrote {PAGE} from {len(load_summaries())} summaries")
    return 0


if __name__ == "__main__":
    run_cli(main, sys.argv[1:])
