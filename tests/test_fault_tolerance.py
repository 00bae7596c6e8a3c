"""Crashes for real: SIGKILL the driver and resume, SIGKILL a trial's worker and retry."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import ROOT, run_py

pytestmark = pytest.mark.slow
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}


def results(trial_dir: Path) -> list[dict]:
    f = trial_dir / "result.json"
    if not f.exists():
        return []
    out = []
    for line in f.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            break  # being written
    return out


def trial_dirs(exp: Path) -> list[Path]:
    return sorted(p for p in exp.glob("capacity_*") if p.is_dir())


def start_sweep(storage: Path, name: str, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "tests/slow_sweep.py", "--storage-path", str(storage), "--name", name,
         *extra],
        cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip


def wait_for(cond, timeout: float, proc: subprocess.Popen) -> None:
    t0 = time.time()
    while not cond():
        if proc.poll() is not None:
            raise AssertionError(f"sweep ended early:\n{proc.stdout.read()[-3000:]}")
        if time.time() - t0 > timeout:
            raise AssertionError("timed out waiting")
        time.sleep(0.2)


def kill_session(proc: subprocess.Popen) -> None:
    """SIGKILL the driver, then whatever Ray processes it had started (its session)."""
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def finished(rs: list[dict]) -> bool:
    return bool(rs) and "stop_reason" in rs[-1]


def test_driver_killed_mid_sweep_resumes_without_rerunning_finished_trials(tmp_path):
    proc = start_sweep(tmp_path, "capacity_resume")
    exp = tmp_path / "capacity_resume"

    def one_done_one_checkpointed() -> bool:
        dirs = trial_dirs(exp)
        done = [d for d in dirs if finished(results(d))]
        ckpt = [
            d for d in dirs
            if results(d) and not finished(results(d)) and list(d.glob("checkpoint_*"))
        ]  # fmt: skip
        return bool(done) and bool(ckpt)

    wait_for(one_done_one_checkpointed, 240, proc)
    kill_session(proc)
    before = {d.name: (d / "result.json").read_text() for d in trial_dirs(exp) if results(d)}
    done_before = [n for n in before if finished(results(exp / n))]
    assert done_before and len(done_before) < 4

    proc = run_py("tests/slow_sweep.py", "--storage-path", str(tmp_path), "--name",
                  "capacity_resume", "--resume")  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    table = pd.read_parquet(exp / "analysis" / "table.parquet")
    keys = list(zip(table["model.name"], table["data.n_seqs"], table["seed"], strict=True))
    assert sorted(keys) == sorted(
        (m, n, 0) for m in ("cpu-xxs", "cpu-xs") for n in (16, 32)
    )  # every (config, seed) exactly once
    assert (table["step"] == 2000).all()
    for name in done_before:  # a finished trial did not train again
        old = before[name].splitlines()
        new = (exp / name / "result.json").read_text().splitlines()
        assert new[: len(old)] == old
        # Tune may not have snapshotted it as finished before the kill: then it is restored
        # from its final checkpoint and re-reports its final result without training
        assert all(json.loads(ln)["step"] == 2000 for ln in new[len(old) :])
    restarted = 0
    for d in trial_dirs(exp):
        rs = results(d)
        resumed = [
            r for r in rs if r["iterations_since_restore"] == 1 and r["training_iteration"] > 1
        ]
        for r in resumed:
            if r["step"] == 2000:  # restored from its final checkpoint: re-reported, no training
                continue
            assert r["step"] > 100 and r["step"] % 400 == 100, r["step"]  # not from step 0
            restarted += 1
    assert restarted >= 1
    print(f"finished before kill: {len(done_before)}, resumed from checkpoint: {restarted}")


def test_worker_killed_mid_trial_retries_from_its_checkpoint(tmp_path):
    proc = start_sweep(tmp_path, "capacity_worker", "--max-concurrent", "1")
    exp = tmp_path / "capacity_worker"

    def checkpointed():  # a checkpoint on disk and the results (with the pid) flushed
        dirs = trial_dirs(exp)
        rs = results(dirs[0]) if dirs else []
        return rs and list(dirs[0].glob("checkpoint_*")) and not finished(rs)

    wait_for(checkpointed, 240, proc)
    first = trial_dirs(exp)[0]
    pid = results(first)[-1]["pid"]
    os.kill(pid, signal.SIGKILL)
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out[-3000:]
    rs = results(first)
    restarts = [r for r in rs if r["iterations_since_restore"] == 1 and r["training_iteration"] > 1]
    assert len(restarts) == 1, [(r["step"], r["iterations_since_restore"]) for r in rs]
    assert restarts[0]["step"] > 100 and restarts[0]["step"] % 400 == 100
    assert restarts[0]["pid"] != pid
    assert rs[-1]["step"] == 2000
