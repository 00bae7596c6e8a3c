"""The Zipf sweep for real: Ray Tune on loopback, per-sequence records in the trial directories,
and the analysis CLI end to end without a display, with its processed-data cache."""

import json
import os
import subprocess
import sys
import time

import pandas as pd
import pytest
from conftest import ROOT
from test_bad_input import assert_one_line_error, run_inproc

from analysis.zipf import main as zipf_main

pytestmark = pytest.mark.slow
EXPERIMENT = "zipf"  # the smoke fixture's sweep

K, T, STEPS, BATCH = 32, 16, 150, 32  # the smoke preset


def test_every_trial_stores_its_records_in_its_trial_directory(smoke):
    path, _, _ = smoke
    files = sorted(path.glob("*/zipf_records.parquet"))
    assert len(files) == 3
    for f in files:
        rec = pd.read_parquet(f)
        steps = sorted(rec["step"].unique())
        assert steps[-1] == STEPS and len(rec) == K * len(steps)
        last = rec[rec["step"] == STEPS]
        assert last["presentations"].sum() == STEPS * BATCH
        assert last["rank"].tolist() == list(range(1, K + 1))
        assert last["accuracy"].between(0, 1).all() and (last["loss_bits"] > 0).all()
        results = [json.loads(x) for x in (f.parent / "result.json").read_text().splitlines()]
        assert [r["step"] for r in results] == steps  # one scalar report per evaluation
        assert results[-1]["records_file"] == "zipf_records.parquet"
        assert results[-1]["records_rows"] == K
    experiments = {pd.read_parquet(f)["experiment"].iloc[0] for f in files}
    assert experiments == {"small", "small_1head", "pheno"}


def test_the_sweep_analyses_its_experiment(smoke):
    path, out, _ = smoke
    assert "b (power)" in out and "comparison heads: small_1head vs small" in out
    fits = pd.read_csv(path / "analysis" / "fits.csv")
    assert set(fits["experiment"]) == {"small", "small_1head", "pheno"}
    for name in ["zipf_loss_lines_selected.png", "zipf_loss_scatter.png",
                 "zipf_accuracy_selected.png", "zipf_compare_models.png",
                 "zipf_compare_heads.png"]:  # fmt: skip
        assert (path / "analysis" / name).stat().st_size > 10_000


def test_cli_runs_without_a_display_and_uses_its_cache(smoke, tmp_path, capsys):
    path, _, _ = smoke
    out, cache = tmp_path / "out", tmp_path / "cache"
    args = [str(path), "--out", str(out), "--cache-dir", str(cache), "--no-show-plots"]
    hide = ("DISPLAY", "WAYLAND_DISPLAY", "MPLBACKEND")  # no display, no preset backend
    env = {k: v for k, v in os.environ.items() if k not in hide}
    env.update(PYTHONPATH=str(ROOT), RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0")
    # a fresh process without a display: builds the cache, writes every figure
    proc = subprocess.run(
        [sys.executable, "-m", "analysis.zipf", *args, "--experiment", "small,small_1head",
         "--rank-selection", "low", "--comparative"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "processed the records and wrote cache" in proc.stdout
    assert (out / "zipf_loss_lines_low.png").is_file() and (out / "zipf_accuracy_low.png").is_file()
    assert (out / "zipf_compare_heads.png").is_file()
    assert set(pd.read_csv(out / "fits.csv")["experiment"]) == {"small", "small_1head"}
    (cached,) = cache.glob("zipf_processed_*.parquet")
    mtime = cached.stat().st_mtime_ns

    def run(*extra: str) -> str:
        res = run_inproc(zipf_main, [*args, "--no-save-plots", *extra], capsys)
        assert res.returncode == 0, res.stderr
        return res.stdout

    assert "read cache" in run()  # the second run reads the cache, untouched
    assert cached.stat().st_mtime_ns == mtime
    assert "processed the records" in run("--force-reprocess")  # rebuilt on request
    assert cached.stat().st_mtime_ns > mtime
    record = next(path.glob("*/zipf_records.parquet"))
    later = time.time() + 5
    os.utime(record, (later, later))  # a changed input: new key, new cache
    assert "processed the records" in run()
    (rebuilt,) = cache.glob("zipf_processed_*.parquet")
    assert rebuilt.name != cached.name
    assert "read cache" in run()


def test_cli_bad_input_is_one_line(smoke, tmp_path, capsys):
    path, _, _ = smoke
    res = run_inproc(zipf_main, [str(path), "--out", str(tmp_path), "--no-show-plots",
                                 "--experiment", "huge"], capsys)  # fmt: skip
    assert_one_line_error(res, "--experiment", "huge", "allowed: all", "pheno", "small")
    res = run_inproc(zipf_main, [str(tmp_path / "nope"), "--no-show-plots"], capsys)
    assert_one_line_error(res, "does not exist")
    res = run_inproc(zipf_main, [str(path), "--rank-selection", "top"], capsys)
    assert_one_line_error(res, "--rank-selection", "low", "mid", "high", "selected")
