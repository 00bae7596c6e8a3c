"""Bad input: one line naming what is wrong and what is allowed, exit code 2, no traceback.

The cases every experiment shares (store corruption, missing paths, unknown presets, an existing
experiment) run over the registry in ``test_experiments.py``; these are the specific ones.
"""

import importlib.util
from types import SimpleNamespace

import pandas as pd
import pytest
from conftest import ROOT, run_py

from analysis.capacity import main as analysis_main
from analysis.threshold import main as threshold_main
from memtune.core.cli import run_cli
from memtune.core.config import ConfigError, ModelConfig
from memtune.experiments.capacity.config import TrainConfig
from memtune.experiments.scaling.config import ScalingConfig
from memtune.experiments.threshold.config import ThresholdConfig
from memtune.tune.sweep import Grid, Sweep, expand, run_sweep


def assert_one_line_error(proc, *words):
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for w in words:
        assert w in lines[0], lines[0]


def run_inproc(main, argv, capsys) -> SimpleNamespace:
    """A CLI in this process (no interpreter start-up): its exit code and captured output."""
    with pytest.raises(SystemExit) as e:
        run_cli(main, argv)
    out = capsys.readouterr()
    return SimpleNamespace(returncode=e.value.code, stdout=out.out, stderr=out.err)


def capacity_main():
    spec = importlib.util.spec_from_file_location("capacity_sweep", ROOT / "sweeps/capacity.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


def test_analysis_of_a_missing_path(tmp_path):
    proc = run_py("-m", "analysis.capacity", str(tmp_path / "nope"))
    assert_one_line_error(proc, "does not exist")


def test_analysis_of_a_table_with_missing_columns(tmp_path, capsys):
    p = tmp_path / "t.csv"
    pd.DataFrame({"n_params": [1, 2]}).to_csv(p, index=False)
    proc = run_inproc(analysis_main, [str(p)], capsys)
    assert_one_line_error(proc, "lacks column(s)", "model.name", "bits_memorized_best")


def test_bad_preset_values_fail_before_ray_starts(tmp_path):
    script = tmp_path / "bad_sweep.py"
    script.write_text(
        "import sys\n"
        "from memtune.core.cli import run_cli\n"
        "from memtune.experiments.capacity.config import TrainConfig\n"
        "from memtune.tune.sweep import Grid, Sweep, run_sweep\n"
        "bad = Sweep(TrainConfig(), {'model': {'d_model': Grid([30]), 'n_head': 4}})\n"
        "run_cli(lambda a: run_sweep('capacity', {'default': bad}, a), sys.argv[1:])\n"
    )
    proc = run_py(str(script), "--storage-path", str(tmp_path / "store"))
    assert_one_line_error(proc, "model.d_model (30)", "model.n_head (4)")
    assert not (tmp_path / "store").exists()


@pytest.mark.parametrize(
    "space, words",
    [
        ({"seed": Grid([])}, ["grid axis seed is empty"]),
        ({"data": {"n_seqs": Grid([8, 0])}}, ["data.n_seqs", ">= 1"]),
        ({"model": {"n_head": Grid([3])}}, ["divisible"]),
        ({"model": Grid([{"name": "x", "widht": 3}])}, ["model.widht"]),
    ],
)
def test_grid_validation(space, words):
    with pytest.raises(ConfigError) as e:
        expand(Sweep(TrainConfig(), space))
    for w in words:
        assert w in str(e.value)


def test_keep_drops_grid_points_and_refuses_an_empty_result():
    space = {"data": {"n_seqs": Grid([1, 2, 3])}, "seed": Grid([0, 1])}
    keep = lambda c: c["seed"] == 0 or c["data"]["n_seqs"] == 3  # noqa: E731
    configs = expand(Sweep(TrainConfig(), space, search=lambda groups, slots: None, keep=keep))
    assert {(c["data"]["n_seqs"], c["seed"]) for c in configs} == {(1, 0), (2, 0), (3, 0), (3, 1)}
    plain = expand(Sweep(TrainConfig(), space, keep=keep))  # a plain grid keeps the same points
    assert plain == configs
    with pytest.raises(ConfigError, match="keeps no grid point"):
        expand(Sweep(TrainConfig(), space, search=lambda g, s: None, keep=lambda c: False))


def test_grid_expands_to_the_cartesian_product():
    sweep = Sweep(
        TrainConfig(),
        {"model": Grid([vars(ModelConfig.preset("cpu-xs"))]), "data": {"n_seqs": Grid([1, 2, 3])},
         "seed": Grid([0, 1])},
    )  # fmt: skip
    configs = expand(sweep)
    assert len(configs) == 6
    assert {(c["data"]["n_seqs"], c["seed"]) for c in configs} == {
        (n, s) for n in (1, 2, 3) for s in (0, 1)
    }


@pytest.mark.parametrize(
    "args, words",
    [
        (["--max-concurrent", "0"], ["--max-concurrent must be >= 1"]),
        (["--cpus-per-trial", "0"], ["--cpus-per-trial must be > 0"]),
        (["--gpus-per-trial", "-1"], ["--gpus-per-trial must be >= 0"]),
        (["--retry-errored"], ["--retry-errored goes with --resume"]),
        (["--name", "a/b"], ["--name must be", "without '/'"]),
        (["--max-concurrent", "two"], ["--max-concurrent", "invalid int value"]),
    ],
)
def test_bad_sweep_flags(args, words, tmp_path, capsys):
    proc = run_inproc(capacity_main(), ["--storage-path", str(tmp_path), *args], capsys)
    assert_one_line_error(proc, *words)


@pytest.mark.parametrize(
    "experiment, base, space, words",
    [
        ("threshold", ThresholdConfig(), {"model": {"arch": Grid(["cnn"])}},
         ["model.arch", "mlp", "transformer", "'cnn'"]),
        ("threshold", ThresholdConfig(), {"model": {"budget": Grid([1000, 0])}},
         ["model.budget", ">= 1"]),
        ("threshold", ThresholdConfig(),
         {"model": Grid([{"arch": "transformer", "budget": 2000, "n_head": 64}])},
         ["model.budget"]),
        ("threshold", ThresholdConfig(), {"model": Grid([])}, ["grid axis model is empty"]),
        ("scaling", ScalingConfig(), {"model": {"n_head": Grid([3])}}, ["divisible"]),
        ("scaling", ScalingConfig(), {"seed_set_tokens": Grid([2048, -1])},
         ["seed_set_tokens"]),
        ("scaling", ScalingConfig(), {"eval_epochs": Grid([()])}, ["eval_epochs"]),
        ("scaling", ScalingConfig(), {"seed_set_tokens": Grid([])},
         ["grid axis seed_set_tokens is empty"]),
        ("capacity", TrainConfig(), {"data": {"vocab_size": Grid([1])}},
         ["data.vocab_size", ">= 2"]),
    ],
)  # fmt: skip
def test_impossible_configs_of_every_sweep_fail_before_ray(
    experiment, base, space, words, tmp_path, capsys
):
    bad = Sweep(base, space)
    store = tmp_path / "store"
    proc = run_inproc(
        lambda argv: run_sweep(experiment, {"default": bad}, argv),
        ["--storage-path", str(store)],
        capsys,
    )
    assert_one_line_error(proc, *words)
    assert not store.exists()


def test_unknown_model_preset_names_the_presets():
    with pytest.raises(ConfigError) as e:
        ModelConfig.preset("giant")
    for w in ["giant", "nano", "cpu-xxs", "large"]:
        assert w in str(e.value)


def test_threshold_table_with_non_positive_values(tmp_path, capsys):
    p = tmp_path / "t.csv"
    pd.DataFrame(
        {"model.arch": ["mlp", "mlp"], "model.name": ["a", "a"], "model.budget": [100, 100],
         "model.n_layer": [1, 1], "model.n_head": [1, 1], "seed": [0, 0],
         "data.n_pairs": [0, 8], "memorized": [1, 0], "n_params": [90, 90]}
    ).to_csv(p, index=False)  # fmt: skip
    proc = run_inproc(threshold_main, [str(p)], capsys)
    assert_one_line_error(proc, "n_params and data.n_pairs must be > 0")


def test_non_positive_values_in_a_table(tmp_path, capsys):
    p = tmp_path / "t.csv"
    pd.DataFrame(
        {"model.name": ["a", "b"], "data.n_seqs": [8, 8], "seed": [0, 0], "n_params": [0, 10],
         "bits_memorized_best": [1.0, 2.0], "bits_achievable": [5.0, 5.0], "seqs_memorized": [0, 0]}
    ).to_csv(p, index=False)  # fmt: skip
    proc = run_inproc(analysis_main, [str(p)], capsys)
    assert_one_line_error(proc, "n_params and data.n_seqs must be > 0")


def test_a_storage_path_that_is_a_file(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    proc = run_inproc(capacity_main(), ["--preset", "smoke", "--storage-path", str(f)], capsys)
    assert_one_line_error(proc, "--storage-path", "not a directory")
