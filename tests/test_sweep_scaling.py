"""The scaling sweep for real: Ray Tune on loopback, one row per (seed set, epochs), analysis."""

import json

import pandas as pd
import pytest
from conftest import run_py

pytestmark = pytest.mark.slow
EXPERIMENT = "scaling"  # the smoke fixture's sweep


def test_table_has_one_row_per_seed_set_and_epoch_count(smoke):
    path, _, _ = smoke
    table = pd.read_parquet(path / "analysis" / "table.parquet")
    assert len(table) == 8
    assert sorted(zip(table["seed_set_tokens"], table["epochs"], strict=True)) == [
        (d, e) for d in (2048, 4096) for e in (1, 2, 5, 10)
    ]
    assert table["trial_id"].nunique() == 2  # one trial per seed set reported every count
    assert (table["status"] == "TERMINATED").all()
    assert (table["model.name"] == "cpu-s").all()
    # every target seen once per epoch: tokens_seen is exactly epochs x D
    assert (table["tokens_seen"] == table["epochs"] * table["seed_set_tokens"]).all()
    assert table["mean_pz"].between(0, 1, inclusive="right").all()
    assert (table["pz_gap"] - (table["mean_pz"] - table["mean_pz_control"])).abs().max() < 1e-12


def test_sweep_prints_the_law_and_writes_the_figures(smoke):
    path, out, _ = smoke
    assert "\n  c1 " in out and "\n  c2 " in out and "R2 = " in out
    assert "cluster-robust by trial" in out and "ratio fit" in out
    assert f"tensorboard --logdir {path}" in out
    for name in ["pz_actual_vs_predicted.png", "pz_residuals.png", "pz_scaling_curves.png"]:
        assert (path / "analysis" / name).stat().st_size > 10_000


def test_analysis_of_the_experiment_and_of_its_plain_table_agree(smoke, tmp_path):
    path, _, _ = smoke
    first = json.loads((path / "analysis" / "summary.json").read_text())
    proc = run_py("-m", "analysis.scaling", str(path), "--out", str(tmp_path / "again"))
    assert proc.returncode == 0, proc.stderr
    again = json.loads((tmp_path / "again" / "summary.json").read_text())
    proc = run_py("-m", "analysis.scaling", str(path / "analysis" / "table.csv"),
                  "--out", str(tmp_path / "csv"))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    from_csv = json.loads((tmp_path / "csv" / "summary.json").read_text())
    proc = run_py("-m", "analysis.scaling", path.name, "--out", str(tmp_path / "rel"),
                  cwd=path.parent)  # fmt: skip
    assert proc.returncode == 0, proc.stderr  # a relative experiment path works too
    for name in ["c1", "c2", "c3", "r2"]:
        assert again[name] == first[name]
        assert from_csv[name] == pytest.approx(first[name], rel=1e-9)
