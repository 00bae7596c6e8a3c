"""A store that moves: copied to another folder (its old place gone), it is analysed and
resumed there (an extension that finds its parent beside it: tests/test_extend.py)."""

import json
import shutil

import pandas as pd
import pytest
from conftest import run_py

pytestmark = pytest.mark.slow


def test_a_moved_store_is_analysed_and_resumed(failed_run):
    """The unfinished experiment of ``failed_run`` (its 2 seed-1 trials failed) is moved, then
    analysed and resumed with the fault gone (MEMTUNE_TEST_FAIL unset)."""
    tmp_path, _ = failed_run
    script = tmp_path / "flaky.py"
    old, new = tmp_path / "old", tmp_path / "new"
    shutil.copytree(old, new)
    shutil.rmtree(old)  # nothing may still point at the old place

    proc = run_py("-m", "analysis.capacity", str(new / "exp"), "--out", str(tmp_path / "a1"))
    assert proc.returncode == 0, proc.stderr
    assert "experiment incomplete: 2 of 4 trial(s)" in proc.stdout

    proc = run_py(str(script), "--resume", "--retry-errored", "--name", "exp", "--storage-path",
                  str(new), "--num-cpus", "2")  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "resuming" in proc.stdout and "--set seed=[0,1]" in proc.stdout
    table = pd.read_parquet(new / "exp" / "analysis" / "table.parquet")
    assert (table["status"] == "TERMINATED").all() and sorted(table["seed"]) == [0, 0, 1, 1]
    assert not old.exists()
    summary = json.loads((new / "exp" / "analysis" / "summary.json").read_text())
    assert summary["complete"] and summary["sources"][0]["path"] == str(new / "exp")
