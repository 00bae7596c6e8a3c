"""The capacity sweep for real: Ray Tune on loopback, TensorBoard files, fresh-process analysis."""

import json
from pathlib import Path

import pandas as pd
import pytest
from conftest import run_py

pytestmark = pytest.mark.slow
EXPERIMENT = "capacity"  # the smoke fixture's sweep


def test_sweep_prints_each_models_bound_and_no_line_through_bounds(smoke):
    # the smoke trials end on their 300-step cap, still rising: every capacity is a lower
    # bound, so no bits-per-parameter figure is printed, and each model's bound is its best trial
    path, out, _ = smoke
    summary = json.loads((path / "analysis" / "summary.json").read_text())
    table = pd.read_parquet(path / "analysis" / "table.parquet")
    assert set(table["verdict"]) == {"budget"} and (table["stop_reason"] == "max_steps").all()
    assert summary["bits_per_param"] is None and "bits per parameter =" not in out
    assert "no capacity fit: 0 model size(s) have a converged capacity" in out
    for m in summary["models"]:
        d = table[table["model.name"] == m["model.name"]]
        assert m["bound"] == ">=" and m["n_converged"] == 0
        assert m["bpp"] == pytest.approx(d["bits_memorized_level"].max() / d["n_params"].iloc[0])
        assert f"{m['model.name']}" in out and f">={m['bpp']:.3f}" in out
    assert f"tensorboard --logdir {path}" in out
    for name in ["bits_vs_dataset.png", "capacity_vs_params.png", "bits_per_param.png"]:
        assert (path / "analysis" / name).stat().st_size > 10_000


def test_progress_table_shows_budget_used_and_time_left(smoke):
    """Before the first trial the sweep says when it should end; Tune's table then shows each
    trial's share of its budget and its minutes left (the columns, and the values at the end:
    every smoke trial ran its whole 300-step budget). Tune prints a column once some trial has
    reported it: a table printed before the first report has neither; the last has both."""
    path, out, _ = smoke
    assert "[memtune] expected wall time " in out.split("Trial name")[0]
    headers = [ln for ln in out.splitlines() if "Trial name" in ln]
    assert "budget used" in headers[-1] and "min left" in headers[-1]
    table = pd.read_parquet(path / "analysis" / "table.parquet")
    assert (table["budget_used"] == 1.0).all() and (table["time_left_min"] == 0.0).all()


def test_every_grid_point_ran_once(smoke):
    path, _, _ = smoke
    table = pd.read_parquet(path / "analysis" / "table.parquet")
    assert len(table) == 4
    assert set(zip(table["model.name"], table["data.n_seqs"], strict=True)) == {
        ("cpu-xxs", 16), ("cpu-xs", 16), ("cpu-xxs", 64), ("cpu-xs", 64)
    }  # fmt: skip
    assert (table["status"] == "TERMINATED").all()
    assert set(table["n_params"]) == {1440, 2736}
    # a metric bug (nats, the first token, the floor) would break these identities
    assert (table["bits_total"] == table["data.n_seqs"] * 64).all()
    assert (table["bits_memorized_best"] <= table["bits_achievable"] + 1e-6).all()


def test_tensorboard_event_files_read_back_with_tensorboards_reader(smoke):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    path, _, _ = smoke
    events = sorted(path.glob("*/events.out.tfevents.*"))
    assert len(events) == 4
    acc = EventAccumulator(str(events[0].parent))
    acc.Reload()
    tags = acc.Tags()["scalars"]
    assert "ray/tune/bits_memorized" in tags
    steps = [e.step for e in acc.Scalars("ray/tune/bits_memorized")]
    assert steps == list(range(50, 301, 50))  # training steps (eval_every 50), not 1, 2, 3


def test_analysis_in_a_fresh_process_reproduces_the_sweeps_summary(smoke, tmp_path):
    path, _, _ = smoke
    proc = run_py("-m", "analysis.capacity", str(path), "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    again = json.loads((tmp_path / "summary.json").read_text())
    first = json.loads((path / "analysis" / "summary.json").read_text())
    assert again["models"] == first["models"] and again["n_trials"] == 4


def test_analysis_of_a_plain_table(smoke, tmp_path):
    path, _, _ = smoke
    csv = Path(path / "analysis" / "table.csv")
    proc = run_py("-m", "analysis.capacity", str(csv), "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "no capacity fit" in proc.stdout and ">=" in proc.stdout


def test_errored_trials_are_named_and_the_rest_analysed(failed_run):
    """The smoke preset at N=16 on seeds 0 and 1, every seed-1 trial failing (conftest's
    ``failed_run``, whose store tests/test_multi_store.py then moves and resumes)."""
    _, out = failed_run
    errored = [ln for ln in out.splitlines() if "ERRORED" in ln]
    assert len(errored) == 2 and all("seed=1" in ln and "injected failure" in ln for ln in errored)
    assert "2 trials; each model's bits/param below" in out  # the 2 that ended


def test_the_sweep_driver_never_imports_torch(smoke):
    """A real sweep's driver, from launch to exit, imports no torch: only the trials' workers do.

    Importing the sweep is checked for every experiment (test_experiments.py); this reads the
    capacity smoke sweep, run as ``python sweeps/capacity.py`` and asked at its exit (conftest's
    ``AS_SCRIPT``), analysis included, where Tune's TensorBoard logger used to import it through
    tensorboardX (2 s of start-up before the first trial,
    memtune.tune.tensorboard.import_tensorboardx_without_torch).
    """
    path, out, _ = smoke
    said = [ln for ln in out.splitlines() if ln.startswith("driver imported torch:")]
    assert said == ["driver imported torch: False"]
    assert len(list(path.glob("*/events.out.tfevents.*"))) == 4
