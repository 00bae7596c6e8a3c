"""Every command the docs show runs: each ``python sweeps/...`` in a code block of README.md and
docs/*.md under --dry-run (it validates the whole grid without Ray), and each
``python -m analysis...`` has flags its parser accepts. A documented example that crashes or
names a flag that does not exist fails here."""

import argparse
import importlib
import re
import shlex
import sys

import pytest
from conftest import ROOT

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# placeholders in documented commands, and what stands in for them here
PLACEHOLDERS = {r"<[a-z_]+>": "20261122-061500", r"\bPATH\b": "results/some_experiment"}
# flags that name an experiment in a store: a documented store does not exist here, so the
# command is run without them (its grid is still checked); the test says it needs a store
STORE_FLAGS = {"--extend": 0, "--resume": 0, "--retry-errored": 0, "--name": 1}


def documented(prefix: str) -> list[tuple[str, str]]:
    """(file, command) of every line in a code block that runs ``python PREFIX...``."""
    found = []
    for doc in DOCS:
        for block in re.findall(r"```[a-z]*\n(.*?)```", doc.read_text(), re.S):
            for line in block.replace("\\\n", " ").splitlines():
                line = line.split("#", 1)[0].strip().removeprefix("$ ")
                if line.startswith(f"python {prefix}"):
                    for pattern, value in PLACEHOLDERS.items():
                        line = re.sub(pattern, value, line)
                    found.append((doc.name, line))
    return found


SWEEPS = documented("sweeps/")
ANALYSES = documented("-m analysis")


def test_the_docs_show_commands():
    assert len(SWEEPS) > 30 and len(ANALYSES) > 15
    assert any("model.name=[cpu-xs,cpu-xxs,cpu-s]" in c for _, c in SWEEPS)


def without_store(argv: list[str]) -> tuple[list[str], bool]:
    """argv without the flags that name a stored experiment; whether there were any."""
    out, skip, needs = [], 0, False
    for a in argv:
        if skip:
            skip -= 1
            continue
        if a in STORE_FLAGS and ("--extend" in argv or "--resume" in argv):
            skip, needs = STORE_FLAGS[a], True
            continue
        out.append(a)
    return out, needs


@pytest.mark.parametrize("doc, command", SWEEPS, ids=[c for _, c in SWEEPS])
def test_documented_sweep_runs_under_dry_run(doc, command, capsys, tmp_path):
    argv = shlex.split(command)[1:]  # drop "python"
    script = argv.pop(0)
    argv, needs_store = without_store(argv)
    sys.path.insert(0, str(ROOT / "sweeps"))
    try:
        module = importlib.import_module(script.removeprefix("sweeps/").removesuffix(".py"))
    finally:
        sys.path.pop(0)
    if "--storage-path" not in argv:
        argv += ["--storage-path", str(tmp_path / "results")]
    code = module.main([*argv, "--dry-run"])
    out = capsys.readouterr().out
    assert code == 0, f"{doc}: {command}\n{out}"
    assert "dry run:" in out, (doc, command, needs_store)


class Parsed(Exception):
    """The analysis parser took the arguments: stop before analysing anything."""


@pytest.mark.parametrize("doc, command", ANALYSES, ids=[c for _, c in ANALYSES])
def test_documented_analysis_flags_are_accepted(doc, command, monkeypatch):
    argv = shlex.split(command)[1:]  # drop "python"
    assert argv[0] == "-m"
    module = importlib.import_module(argv[1])
    main = getattr(module, "main", None) or importlib.import_module(f"{argv[1]}.report").main

    def parse(self, args=None, namespace=None):
        ns, extra = self.parse_known_args(args, namespace)
        if extra:
            self.error(f"unrecognized arguments: {' '.join(extra)}")
        raise Parsed(ns)

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", parse)
    try:
        main(argv[2:])
    except SystemExit as e:
        pytest.fail(f"{doc}: {command}: the parser refused it (exit {e.code})")
    except Parsed:
        return
    pytest.fail(f"{doc}: {command}: no parser ran")
