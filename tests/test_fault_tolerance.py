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


def results_of(text: str) -> list[dict]:
    out = []
    for line in text.splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            break  # being written
    return out


def results(trial_dir: Path) -> list[dict]:
    f = trial_dir / "result.json"
    return results_of(f.read_text()) if f.exists() else []


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


@pytest.fixture(scope="module")
def crashed(tmp_path_factory):
    """One slow sweep (4 trials, 2 at a time) through two crashes, one after the other: the
    driver is SIGKILLed with its session once a trial has finished and another holds a
    checkpoint mid-way; the ``--resume`` that follows has a trial's worker SIGKILLed once that
    trial holds a checkpoint of the resumed run, and completes the sweep. A sweep of its own for
    each crash would pay Ray's start-up and the trials again (~40 s).

    Yields: the experiment, each trial's result.json text at the driver's kill, the trial
    whose worker was killed (one the killed driver never started, if there is one), that
    worker's pid, and the resumed driver's exit code and output.
    """
    tmp_path = tmp_path_factory.mktemp("crashed")
    started: list[subprocess.Popen] = []
    try:
        yield crash_twice(tmp_path, started)
    finally:
        for proc in started:  # a failed wait leaves its sweep running: stop it and its Ray
            if proc.poll() is None:
                kill_session(proc)


def crash_twice(tmp_path: Path, started: list[subprocess.Popen]) -> tuple:
    """``crashed``'s sweep, each process it starts appended to ``started``."""
    proc = start_sweep(tmp_path, "capacity_resume")
    started.append(proc)
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

    resumed_at = time.time()
    proc = start_sweep(tmp_path, "capacity_resume", "--resume")
    started.append(proc)

    def checkpointed_since_resume() -> list[Path]:
        """Trials of the resumed run with a checkpoint of it, and their results (with the pid)
        flushed, 500 steps or more from their end (their last checkpoint is not the final)."""
        found = [
            d for d in trial_dirs(exp)
            if len(rs := results(d)) > len(results_of(before.get(d.name, "")))
            and rs[-1]["step"] <= 1500
            and any(c.stat().st_mtime > resumed_at for c in d.glob("checkpoint_*"))
        ]  # fmt: skip
        return sorted(found, key=lambda d: d.name in before)  # never started before first

    wait_for(checkpointed_since_resume, 240, proc)
    killed = checkpointed_since_resume()[0]
    pid = results(killed)[-1]["pid"]
    os.kill(pid, signal.SIGKILL)
    out, _ = proc.communicate(timeout=600)
    return exp, before, killed, pid, proc.returncode, out


def test_driver_killed_mid_sweep_resumes_without_rerunning_finished_trials(crashed):
    exp, before, _, _, returncode, out = crashed
    done_before = [n for n in before if finished(results_of(before[n]))]
    assert done_before and len(done_before) < 4

    assert returncode == 0, out[-3000:]
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
        # the first result of the resumed driver: a trial the killed one had started goes on
        # from its checkpoint (a later restart is the worker's kill, the other test's)
        rs = results(d)[len(results_of(before.get(d.name, ""))) :]
        if rs and rs[0]["iterations_since_restore"] == 1 and rs[0]["training_iteration"] > 1:
            if rs[0]["step"] == 2000:  # restored from its final checkpoint: no training
                continue
            assert rs[0]["step"] > 100 and rs[0]["step"] % 400 == 100, rs[0]["step"]
            restarted += 1  # not from step 0
    assert restarted >= 1
    print(f"finished before kill: {len(done_before)}, resumed from checkpoint: {restarted}")


def test_worker_killed_mid_trial_retries_from_its_checkpoint(crashed):
    """A trial of the resumed sweep (``crashed``), its worker killed at a checkpoint: the
    driver retries it from that checkpoint in a new worker, it finishes, and so does the
    sweep, with exit code 0."""
    _, _, killed, pid, returncode, out = crashed
    rs = results(killed)
    last = max(i for i, r in enumerate(rs) if r["pid"] == pid)  # its last result before the kill
    after = rs[last + 1 :]
    restarts = [
        r for r in after if r["iterations_since_restore"] == 1 and r["training_iteration"] > 1
    ]
    assert len(restarts) == 1, [(r["step"], r["iterations_since_restore"]) for r in rs]
    assert after[0] is restarts[0]  # the first result after the kill is the retry's
    assert restarts[0]["step"] > 100 and restarts[0]["step"] % 400 == 100
    assert restarts[0]["pid"] != pid
    assert rs[-1]["step"] == 2000
    assert returncode == 0, out[-3000:]


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
