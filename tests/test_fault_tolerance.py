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


def start_sweep(
    storage: Path, name: str, *extra: str, script: str = "tests/slow_sweep.py"
) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, script, "--storage-path", str(storage), "--name", name, *extra],
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
    """One trial of the slow sweep (what is asserted is that trial's retry): the other three
    would add ~35 s of training after the retry and prove nothing more."""
    proc = start_sweep(tmp_path, "capacity_worker", "--max-concurrent", "1",
                       "--set", "model.name=cpu-xxs", "--set", "data.n_seqs=16")  # fmt: skip
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


def test_threshold_search_survives_a_driver_kill(tmp_path):
    """SIGKILL the driver mid-search; --resume continues the searcher from its saved state.

    Tune snapshots the experiment and the searcher together, every 10 s or so: probes that
    ended after the last snapshot are unknown to the restored run and run once more (they are
    short); everything the snapshot knew is kept, and every answer is still exact.
    """
    from slow_threshold_sweep import N_MAX, THRESHOLDS

    script = "tests/slow_threshold_sweep.py"
    proc = start_sweep(tmp_path, "threshold_kill", script=script)
    exp = tmp_path / "threshold_kill"
    summary = exp / "threshold_search.json"

    def probes() -> dict[str, list[dict]]:
        return {d.name: rs for d in exp.glob("threshold_*") if d.is_dir() and (rs := results(d))}

    def saved_mid_search() -> bool:  # a searcher snapshot that knows some outcomes, not all
        if not summary.exists():
            return False
        log = json.loads(summary.read_text())["log"]
        return len(log) >= 4 and len(probes()) >= 6

    wait_for(saved_mid_search, 240, proc)
    kill_session(proc)
    killed_at = time.time()
    snapshot = json.loads(summary.read_text())
    assert not all(g["done"] for g in snapshot["groups"]), "the search ended before the kill"
    before = probes()

    proc = run_py(script, "--storage-path", str(tmp_path), "--name", "threshold_kill",
                  "--resume")  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    final = json.loads(summary.read_text())
    assert [g["threshold"] for g in final["groups"]] == [min(t, N_MAX) for t in THRESHOLDS.values()]
    log = [(e["group"], e["n"]) for e in final["log"]]
    assert len(set(log)) == len(log), "the searcher probed a size twice"
    known = [(e["trial_id"], e["group"], e["n"]) for e in snapshot["log"]]
    assert set(known) <= {(e["trial_id"], e["group"], e["n"]) for e in final["log"]}

    # probes that finished before the kill and ran again after it
    after = probes()
    done_before = {(rs[-1]["config"]["model"]["name"], rs[-1]["n_pairs"]) for rs in before.values()}
    reran = [
        name for name, rs in after.items()
        if rs[-1]["timestamp"] > killed_at
        and (rs[-1]["config"]["model"]["name"], rs[-1]["n_pairs"]) in done_before
    ]  # fmt: skip
    assert len(reran) <= len(before) - len(known)  # only what the snapshot had not seen
    print(
        f"probes finished before the kill: {len(before)}, known to the searcher's snapshot: "
        f"{len(known)}, run again after --resume: {len(reran)}, probes in all: {len(log)}"
    )
