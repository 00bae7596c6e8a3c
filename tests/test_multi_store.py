"""A store that moves: copied to another folder (its old place gone), it is analysed and
resumed there (an extension that finds its parent beside it: tests/test_extend.py)."""

import json
import shutil

import pandas as pd
import pytest
from conftest import run_py

pytestmark = pytest.mark.slow

# The capacity smoke preset at N=16, 2 seeds; cpu-xs seed 1 fails while MEMTUNE_TEST_FAIL is
# set, so the experiment is left unfinished the way a crash would leave it.
SCRIPT = """\
import os, sys
from memtune.core.cli import run_cli
from memtune.experiments import get
from memtune.tune.sweep import run_sweep
from memtune.tune.trainable import make_trainable
sys.path.insert(0, 'sweeps')
from capacity import PRESETS
def trainable(config):
    fail = os.environ.get('MEMTUNE_TEST_FAIL')
    if fail and (config['seed'], config['model']['name']) == (1, 'cpu-xs'):
        raise RuntimeError('injected failure')
    make_trainable(get('capacity'))(config)
run_cli(lambda a: run_sweep('capacity', PRESETS, a, trainable=trainable), sys.argv[1:])
"""
SET = ["--set", "data.n_seqs=[16]", "--set", "seed=[0,1]"]


def test_a_moved_store_is_analysed_and_resumed(tmp_path, monkeypatch):
    script = tmp_path / "flaky.py"
    script.write_text(SCRIPT)
    old, new = tmp_path / "old", tmp_path / "new"
    monkeypatch.setenv("MEMTUNE_TEST_FAIL", "1")
    proc = run_py(str(script), "--preset", "smoke", "--storage-path", str(old), "--name", "exp",
                  "--num-cpus", "2", "--max-failures", "0", "--no-analysis", *SET)  # fmt: skip
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    shutil.copytree(old, new)
    shutil.rmtree(old)  # nothing may still point at the old place
    monkeypatch.delenv("MEMTUNE_TEST_FAIL")

    proc = run_py("-m", "analysis.capacity", str(new / "exp"), "--out", str(tmp_path / "a1"))
    assert proc.returncode == 0, proc.stderr
    assert "experiment incomplete: 1 of 4 trial(s)" in proc.stdout

    proc = run_py(str(script), "--resume", "--retry-errored", "--name", "exp", "--storage-path",
                  str(new), "--num-cpus", "2")  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "resuming" in proc.stdout and "--set seed=[0,1]" in proc.stdout
    table = pd.read_parquet(new / "exp" / "analysis" / "table.parquet")
    assert (table["status"] == "TERMINATED").all() and sorted(table["seed"]) == [0, 0, 1, 1]
    assert not old.exists()
    summary = json.loads((new / "exp" / "analysis" / "summary.json").read_text())
    assert summary["complete"] and summary["sources"][0]["path"] == str(new / "exp")
