"""Real Tune runs: overrides reach the trials and are recorded; --extend reruns nothing that
finished and the analysis sees old and new trials as one; several paths analysed as one equal
the analysis of the concatenated table."""

import json
import shutil

import pandas as pd
import pytest
from conftest import run_py

pytestmark = pytest.mark.slow

# the capacity smoke preset cut to 2 trials (cpu-xxs, cpu-xs at N=16), at lr_scale 0.3
SET = ["--set", "data.n_seqs=[16]", "--set", "optim.lr_scale=0.3"]


def sweep(store, *args):
    proc = run_py("sweeps/capacity.py", "--preset", "smoke", "--storage-path", str(store),
                  "--num-cpus", "2", *args)  # fmt: skip
    return proc


def trials(experiment):
    """Each trial folder's config (params.json): the trials this experiment trained."""
    return [json.loads(p.read_text()) for p in sorted(experiment.glob("capacity_*/params.json"))]


@pytest.fixture(scope="module")
def grown(tmp_path_factory):
    """An experiment of 2 trials, then --extend by a second seed: (store, base, extension)."""
    store = tmp_path_factory.mktemp("grow")
    first = sweep(store, "--name", "base", "--no-analysis", *SET)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
    again = sweep(store, "--extend", "--name", "base", *SET, "--set", "seed=[0,1]")
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    return store, again.stdout


def test_overrides_reach_the_trials_and_are_recorded(grown):
    store, _ = grown
    configs = trials(store / "base")
    assert len(configs) == 2
    assert {c["optim"]["lr_scale"] for c in configs} == {0.3}
    assert {c["data"]["n_seqs"] for c in configs} == {16}
    meta = json.loads((store / "base" / "memtune.json").read_text())
    assert meta["preset"] == "smoke" and meta["overrides"] == [
        "data.n_seqs=[16]",
        "optim.lr_scale=0.3",
    ]
    assert meta["axes"] == ["model", "data.n_seqs"]


def test_extend_runs_only_the_new_points_and_analyses_all(grown):
    store, out = grown
    assert "2 of 4 grid points already finished there; 2 to run" in out
    new = trials(store / "base_ext1")
    assert len(new) == 2 and {c["seed"] for c in new} == {1}  # seed 0 was not trained again
    assert len(trials(store / "base")) == 2  # the old experiment is untouched
    meta = json.loads((store / "base_ext1" / "memtune.json").read_text())
    assert meta["parents"][0]["name"] == "base"
    table = pd.read_parquet(store / "base_ext1" / "analysis" / "table.parquet")
    assert len(table) == 4 and set(zip(table["model.name"], table["seed"], strict=True)) == {
        ("cpu-xxs", 0), ("cpu-xs", 0), ("cpu-xxs", 1), ("cpu-xs", 1)
    }  # fmt: skip
    assert "4 trials; each model's bits/param below" in out  # all 4 analysed as one experiment
    summary = json.loads((store / "base_ext1" / "analysis" / "summary.json").read_text())
    assert [s["path"].rsplit("/", 1)[-1] for s in summary["sources"]] == ["base", "base_ext1"]


def test_extending_again_with_the_same_grid_runs_nothing(grown):
    store, _ = grown
    proc = sweep(store, "--extend", "--name", "base", *SET, "--set", "seed=[0,1]")
    assert proc.returncode == 0, proc.stderr
    assert "4 of 4 grid points already finished there; 0 to run" in proc.stdout
    assert not (store / "base_ext2").exists()


def test_extend_with_another_protocol_is_refused_before_ray(grown):
    store, _ = grown
    proc = sweep(store, "--extend", "--name", "base", *SET, "--set", "max_steps=400")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "max_steps (300 in base_ext1; 400 in this grid)" in lines[0]
    assert not (store / "base_ext2").exists()


def test_several_paths_equal_the_concatenated_table(grown, tmp_path):
    store, _ = grown
    ext = pd.read_parquet(store / "base_ext1" / "analysis" / "table.parquet")
    own = ext[ext["seed"] == 1]  # the extension's own trials, as a plain table
    own.to_csv(tmp_path / "seed1.csv", index=False)
    both = pd.concat([ext[ext["seed"] == 0], own])
    both.to_csv(tmp_path / "concat.csv", index=False)
    joint = run_py("-m", "analysis.capacity", str(store / "base"), str(tmp_path / "seed1.csv"),
                   "--out", str(tmp_path / "joint"))  # fmt: skip
    assert joint.returncode == 0, joint.stderr
    alone = run_py("-m", "analysis.capacity", str(tmp_path / "concat.csv"),
                   "--out", str(tmp_path / "concat"))  # fmt: skip
    assert alone.returncode == 0, alone.stderr
    a = json.loads((tmp_path / "joint" / "summary.json").read_text())
    b = json.loads((tmp_path / "concat" / "summary.json").read_text())
    assert a.pop("sources") == [
        {"path": str(store / "base"), "kind": "experiment", "preset": "smoke",
         "overrides": ["data.n_seqs=[16]", "optim.lr_scale=0.3"], "parents": []},
        {"path": str(tmp_path / "seed1.csv"), "kind": "table"},
    ]  # fmt: skip
    b.pop("sources")
    a.pop("outputs", None), b.pop("outputs", None)
    assert a == b and a["n_trials"] == 4
    # the same two sources with another protocol: refused, naming the field
    own.assign(max_steps=200).to_csv(tmp_path / "other.csv", index=False)
    bad = run_py("-m", "analysis.capacity", str(store / "base"), str(tmp_path / "other.csv"),
                 "--out", str(tmp_path / "bad"))  # fmt: skip
    assert bad.returncode == 2 and "max_steps (300 in base; 200 in other.csv)" in bad.stderr


def test_a_copied_extension_finds_its_parent_beside_it(grown, tmp_path):
    store, _ = grown
    shutil.copytree(store, tmp_path / "moved", ignore=shutil.ignore_patterns("analysis"))
    proc = run_py("-m", "analysis.capacity", str(tmp_path / "moved" / "base_ext1"))
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(
        (tmp_path / "moved" / "base_ext1" / "analysis" / "summary.json").read_text()
    )
    assert [s["path"] for s in summary["sources"]] == [
        str(tmp_path / "moved" / "base"), str(tmp_path / "moved" / "base_ext1")
    ]  # fmt: skip
    assert summary["n_trials"] == 4


def test_a_one_value_axis_is_no_way_round_the_protocol_check(grown):
    """--set F=[x] makes F an axis of one value: it sweeps nothing, so F still must match."""
    store, _ = grown
    proc = sweep(store, "--extend", "--name", "base", *SET, "--set", "max_steps=[400]")
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "max_steps (300 in base_ext1; 400 in this grid)" in lines[0]
    assert not (store / "base_ext2").exists()
