"""docs/results.md is what the committed summaries generate (analysis.results), so a rerun that
updates a summary cannot leave the page's old figures behind; and the README's first command's
printout is the committed summary's report once there is one."""

import json
import re

import pytest
from conftest import ROOT
from test_capacity_analysis import three_models

from analysis import results
from analysis.capacity.report import analyze, format_report


def test_the_committed_page_is_what_the_summaries_generate():
    assert (ROOT / "docs" / "results.md").read_text() == results.render(), (
        "docs/results.md is stale: run python -m analysis.results"
    )


def summary_entry(tmp_path, **kw):
    """A summary file's content from a real analysis of a (hand-built) capacity table."""
    summary = analyze(three_models(), tmp_path / "analysis")
    summary.pop("outputs")
    return {
        "experiment": "capacity", "preset": "default", "command": "python sweeps/capacity.py",
        "analysis_command": "python -m analysis.capacity capacity_default_x", "commit": "abc1234",
        "date": "2026-12-03", "report": format_report({**summary, "outputs": []}),
        "summary": json.loads(json.dumps(summary, default=str)), **kw,
    }  # fmt: skip


def test_a_summary_is_rendered_with_its_command_commit_and_report(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    entry = summary_entry(tmp_path)
    (data / "capacity_default.json").write_text(json.dumps(entry))
    page = tmp_path / "results.md"
    page.write_text(results.generated([]) + "hand-written part\n")
    text = results.render(data, page)
    assert "### capacity, preset `default`" in text
    n = entry["summary"]["n_trials"]
    assert f"`python sweeps/capacity.py` at commit abc1234 (2026-12-03, {n} trials)" in text
    assert entry["report"] in text and "bits per parameter = 2.0" in entry["report"]
    assert text.endswith(results.STATIC_MARKER + "\nhand-written part\n")  # kept as it was
    assert "No summary is committed yet" not in text
    # a rerun's summary replaces the figures: the old report is gone from the page
    old, new = "bits per parameter = 2.0", "bits per parameter = 9.9"
    entry["report"] = entry["report"].replace(old, new)
    (data / "capacity_default.json").write_text(json.dumps(entry))
    again = results.render(data, page)
    assert new in again and old not in again


def test_check_fails_on_a_stale_page(tmp_path, monkeypatch):
    page = tmp_path / "results.md"
    monkeypatch.setattr(results, "PAGE", page)
    monkeypatch.setattr(results, "DATA", tmp_path / "data")
    page.write_text(results.generated([]) + "rest\n")
    assert results.main(["--check"]) == 0
    page.write_text(page.read_text().replace("No summary", "Some summary"))
    assert results.main(["--check"]) == 1
    assert results.main([]) == 0 and results.main(["--check"]) == 0  # regenerated


def test_the_readmes_first_printout_is_the_committed_summarys():
    """Once the default capacity run has a summary, the README shows its report, not a copy."""
    committed = ROOT / "docs" / "data" / "capacity_default.json"
    if not committed.exists():
        return  # no summary yet: the README's block is hand-written (docs/results.md says so)
    report = json.loads(committed.read_text())["report"]
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```\n((?:no )?capacity fit.*?)```", readme, re.S)  # a fit, or why none
    assert blocks and blocks[0].rstrip() == report.rstrip()


def test_the_sweep_records_the_code_it_ran():
    """memtune.json names the commit the sweep ran at (+dirty with uncommitted changes), so a
    summary written later, at another commit, still names the code of its figures."""
    import subprocess

    from memtune.core.store import code_version

    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True).stdout.strip()  # fmt: skip
    assert code_version().removesuffix("+dirty") == head


@pytest.mark.slow
def test_add_writes_a_summary_naming_the_runs_commit_and_the_analysis(smoke_run, tmp_path):
    from memtune.core.store import read_meta

    path, _, _ = smoke_run("capacity")
    ran = read_meta(str(path))["commit"]
    target = results.add(str(path), "python sweeps/capacity.py --preset smoke", data=tmp_path)
    entry = json.loads(target.read_text())
    assert target.name == "capacity_smoke.json" and entry["commit"] == ran
    assert entry["analysis_command"] == f"python -m analysis.capacity {path.name}"
    assert entry["summary"]["n_trials"] == 4 and "bits/param" in entry["report"]
