"""Steering a sweep: budgets that follow the model and the overrides, no override silently lost,
bools never numbers, --dry-run, and analyses that check one protocol and survive partial stores."""

import sys
import time

import pandas as pd
import pytest
from conftest import ROOT, run_py

from analysis.capacity.report import analyze
from memtune.core.config import ConfigError, ModelConfig
from memtune.experiments.capacity.config import TrainConfig
from memtune.tune.sweep import Grid, Sweep, expand, with_overrides

sys.path.insert(0, str(ROOT / "sweeps"))
import capacity  # noqa: E402

DEFAULT = capacity.PRESETS["default"]
VOCAB = capacity.PRESETS["vocab"]


def by_model(configs):
    return {c["model"]["name"]: c for c in configs}


# ---- budgets that follow the model and the overrides -------------------------------------------


def test_the_default_trials_are_the_measured_ones():
    """The default's two trials, field by field where the budget decides them (the lead's
    measurements run these configs)."""
    got = by_model(expand(DEFAULT))
    expect = {
        "cpu-xs": (48_000, 8_000, 16_000, 6_000, 333, 48_000, 12_000),
        "cpu-xxs": (72_000, 12_000, 24_000, 9_000, 500, 72_000, 18_000),
    }
    for name, (steps, decay, hold, stall, every, patience, window) in expect.items():
        c = got[name]
        o = c["optim"]
        assert (c["max_steps"], o["decay_steps"], o["hold_steps"], o["stall_steps"]) == (
            steps, decay, hold, stall
        )  # fmt: skip
        assert (c["eval_every"], c["patience"], c["saturation_window"]) == (
            every, patience, window
        )  # fmt: skip
        assert c["optim"]["min_lr_frac"] == 0.05 and c["optim"]["schedule"] == "wsd"
        assert c["knee_multiple"] == 2.0 and c["optim"]["batch_size"] == 128


@pytest.mark.parametrize(
    "models",
    [["cpu-xxs", "cpu-m"], ["cpu-m"], ["cpu-xs", "cpu-xxs", "cpu-s"]],
)
def test_readme_model_examples_get_budgets_by_one_rule(models):
    """The README's --set model.name=... examples expand (they crashed in a keep rule), and
    every model gets the CPU time of the reference trial: steps x estimated ms a step equal
    within a thousand steps' worth."""
    value = models[0] if len(models) == 1 else "[" + ",".join(models) + "]"
    configs = expand(with_overrides(DEFAULT, [f"model.name={value}", "model.pos_emb=learned"]))
    assert sorted(by_model(configs)) == sorted(models)
    budget = 48_000 * capacity.trial_ms(capacity.REFERENCE.to_dict())
    for c in configs:
        ms = capacity.trial_ms(c)
        assert abs(c["max_steps"] * ms - budget) <= 500 * ms
        run = capacity.protocol(c["max_steps"]).to_dict()
        assert c["optim"]["hold_steps"] == run["optim"]["hold_steps"]
        assert c["saturation_window"] == run["saturation_window"]
    if "cpu-xs" in models:
        assert by_model(configs)["cpu-xs"]["max_steps"] == 48_000


def test_an_optimizer_override_keeps_every_trial():
    configs = expand(with_overrides(DEFAULT, ["optim.lr_scale=0.3"]))
    assert len(configs) == 2 and {c["optim"]["lr_scale"] for c in configs} == {0.3}


def test_max_steps_rederives_the_protocol_and_a_field_set_stays():
    configs = expand(with_overrides(DEFAULT, ["max_steps=6000"]))
    run = capacity.protocol(6000).to_dict()
    run["optim"]["compile"] = True  # the default preset's own setting, kept
    for c in configs:
        for f in ("optim", "max_steps", "eval_every", "patience", "saturation_window"):
            assert c[f] == run[f], f
    kept = expand(with_overrides(DEFAULT, ["max_steps=6000", "optim.decay_steps=500"]))
    assert {c["optim"]["decay_steps"] for c in kept} == {500}
    assert {c["optim"]["hold_steps"] for c in kept} == {2000}


def test_a_keep_rule_that_loses_every_point_names_the_override():
    sweep = Sweep(TrainConfig(), {"seed": Grid([0, 1])}, keep=lambda c: c["seed"] == 0)
    with pytest.raises(ConfigError, match=r"--set seed=1"):
        expand(with_overrides(sweep, ["max_steps=30000", "seed=1"]))


def test_the_cost_table_reproduces_its_measurements():
    from memtune.core.cost import MEASURED, step_ms

    for (name, batch, seq_len, vocab), ms in MEASURED:
        assert step_ms(ModelConfig.preset(name), batch, seq_len, vocab) == pytest.approx(ms)


# ---- no silent override ------------------------------------------------------------------------


def test_n_seqs_wins_over_knee_multiple_and_says_so():
    sweep = with_overrides(DEFAULT, ["data.n_seqs=[64,128]"])
    configs = expand(sweep)
    assert len(configs) == 4
    assert {c["knee_multiple"] for c in configs} == {0.0}
    assert sorted({c["data"]["n_seqs"] for c in configs}) == [64, 128]
    assert any("clears knee_multiple" in n for n in sweep.notes)


def test_n_seqs_with_a_knee_multiple_set_is_refused_naming_both():
    with pytest.raises(ConfigError) as e:
        with_overrides(DEFAULT, ["data.n_seqs=64", "knee_multiple=3"])
    assert "data.n_seqs" in str(e.value) and "knee_multiple" in str(e.value)


def test_a_model_on_the_vocab_preset_keeps_its_tying_axis():
    configs = expand(with_overrides(VOCAB, ["model.name=cpu-xs"]))
    assert len(configs) == len(expand(VOCAB)) == 20
    assert {c["model"]["name"] for c in configs} == {"cpu-xs"}
    assert {c["model"]["tie_embeddings"] for c in configs} == {False, True}
    with pytest.raises(ConfigError, match="model.tie_embeddings"):
        with_overrides(VOCAB, ["model.name=[cpu-xs,cpu-s]"])


@pytest.mark.parametrize(
    "override",
    ["optim.lr=true", "optim.batch_size=true", "optim.warmup_steps=true", "max_steps=true",
     "knee_multiple=false", "optim.lr_scale=[0.3,true]", "max_steps=1e3"],
)  # fmt: skip
def test_bools_and_floats_are_not_integers_or_numbers(override):
    with pytest.raises(ConfigError) as e:
        expand(with_overrides(DEFAULT, [override]))
    assert override.split("=")[0] in str(e.value)


def test_from_dict_refuses_a_bool_where_a_number_goes():
    with pytest.raises(ConfigError, match="optim.lr must be a number"):
        TrainConfig.from_dict({"optim": {"lr": True}})
    with pytest.raises(ConfigError, match="optim.batch_size must be an integer"):
        TrainConfig.from_dict({"optim": {"batch_size": True}})


def test_a_constant_lr_cannot_be_judged_saturated():
    with pytest.raises(ConfigError, match="min_lr_frac must be < 1"):
        expand(with_overrides(DEFAULT, ["optim.min_lr_frac=1"]))


# ---- --dry-run ---------------------------------------------------------------------------------


@pytest.mark.parametrize("script", sorted(p.name for p in (ROOT / "sweeps").glob("*.py")))
def test_dry_run_of_every_sweep_prints_the_plan_without_ray(script, tmp_path):
    store = tmp_path / "store"
    t0 = time.perf_counter()
    proc = run_py(f"sweeps/{script}", "--dry-run", "--storage-path", str(store))
    took = time.perf_counter() - t0
    assert proc.returncode == 0, proc.stderr
    assert "dry run:" in proc.stdout and "nothing started" in proc.stdout
    assert not store.exists()  # nothing written, no Ray
    assert took < 6  # < 3 s on a quiet core; the suite shares the cores


def test_dry_run_shows_budgets_time_and_cpus():
    proc = run_py("sweeps/capacity.py", "--dry-run", "--num-cpus", "2",
                  "--set", "model.name=[cpu-xxs,cpu-m]")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "cpu-xxs_max_steps=" in out and "cpu-m_max_steps=" in out
    assert "expected wall time" in out and "on 2 of these CPUs" in out


# ---- one protocol per analysis -----------------------------------------------------------------


def test_a_one_value_axis_exempts_nothing():
    from memtune.core.store import protocol_differences

    old = [{"max_steps": 6000, "seed": 0}]
    new = [{"max_steps": 3000, "seed": 1}]
    differ = protocol_differences({"cap": old, "this grid": new},
                                  {"cap": set(), "this grid": {"max_steps"}})  # fmt: skip
    assert differ == ["max_steps (6000 in cap; 3000 in this grid)"]
    # a field the parent sweeps may differ; a budget --set pins, under no axis, may not
    old = [{"model.name": "a", "max_steps": 1}, {"model.name": "b", "max_steps": 2}]
    new = [{"model.name": "c", "max_steps": 3}]
    axes = {"p": {"model"}, "this grid": {"model"}}
    assert protocol_differences({"p": old, "this grid": new}, axes, {"model.name"}) == []
    assert protocol_differences({"p": old, "this grid": new}, axes, {"max_steps"}) != []


def capacity_table(rows):
    cols = ["model.name", "n_params", "seed", "data.n_seqs", "bits_memorized_best", "verdict",
            "max_steps", "data.seq_len"]  # fmt: skip
    df = pd.DataFrame(rows, columns=cols)
    df["bits_achievable"] = df["data.n_seqs"] * 58.0
    df["seqs_memorized"] = 0
    return df


def test_seeds_under_different_protocols_are_refused_naming_the_field(tmp_path):
    df = capacity_table([
        ("a", 1000, 0, 70, 2000.0, "saturated", 6000, 64),
        ("a", 1000, 1, 70, 2010.0, "saturated", 3000, 64),
    ])  # fmt: skip
    with pytest.raises(ConfigError, match="max_steps"):
        analyze(df, tmp_path)


def test_models_under_different_protocols_are_refused_naming_the_field(tmp_path):
    df = capacity_table([
        ("a", 1000, 0, 70, 2000.0, "saturated", 6000, 64),
        ("b", 2000, 0, 140, 4000.0, "saturated", 6000, 32),
    ])  # fmt: skip
    with pytest.raises(ConfigError, match="data.seq_len"):
        analyze(df, tmp_path)


# ---- partial and re-read stores ----------------------------------------------------------------


def test_no_finished_trial_says_incomplete_and_names_the_trials(tmp_path):
    df = capacity_table([
        ("cpu-xs", 2736, 0, 191, 900.0, "", 48000, 64),
        ("cpu-xxs", 1440, 0, 99, 700.0, "", 72000, 64),
    ])  # fmt: skip
    df["status"] = "RUNNING"
    df["trial"] = ["capacity_0_cpu-xs", "capacity_1_cpu-xxs"]
    df["data.vocab_size"] = 2
    with pytest.raises(ConfigError) as e:
        analyze(df, tmp_path)
    text = str(e.value)
    assert "experiment incomplete" in text
    assert "capacity_0_cpu-xs (RUNNING)" in text and "capacity_1_cpu-xxs (RUNNING)" in text
    path = tmp_path / "partial.csv"
    df.to_csv(path, index=False)
    proc = run_py("-m", "analysis.capacity", str(path), "--out", str(tmp_path / "out"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "experiment incomplete" in proc.stderr


def test_reanalysing_a_written_table_gives_the_same_labels(tmp_path):
    rows = []
    for tied in (False, True):
        for seed in (0, 1):
            rows.append(("cpu-xxs", 1440, seed, 60, 2900.0 + seed, "saturated", 6000, 64, tied))
    df = pd.DataFrame(rows, columns=["model.name", "n_params", "seed", "data.n_seqs",
                                     "bits_memorized_best", "verdict", "max_steps",
                                     "data.seq_len", "model.tie_embeddings"])  # fmt: skip
    df["data.vocab_size"] = 256
    df["bits_achievable"] = df["data.n_seqs"] * 500.0
    df["seqs_memorized"] = 0
    analyze(df, tmp_path / "first")
    first = pd.read_csv(tmp_path / "first" / "table.csv")
    assert set(first["model.name"]) == {"cpu-xxs V=256", "cpu-xxs V=256 tied"}
    analyze(first, tmp_path / "again")
    again = pd.read_csv(tmp_path / "again" / "table.csv")
    assert list(again["model.name"]) == list(first["model.name"])
    a = pd.read_csv(tmp_path / "first" / "capacity.csv")
    b = pd.read_csv(tmp_path / "again" / "capacity.csv")
    pd.testing.assert_frame_equal(a, b)


@pytest.mark.slow
def test_a_readme_model_example_runs_as_a_real_sweep(tmp_path):
    """README's --set model.name=[cpu-xxs,cpu-m] on the default, at a tiny budget that
    re-derives the protocol: real Ray, real Tune, the analysis at the end."""
    proc = run_py("sweeps/capacity.py", "--set", "model.name=[cpu-xxs,cpu-m]",
                  "--set", "max_steps=300", "--storage-path", str(tmp_path), "--name", "readme",
                  "--num-cpus", "2")  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    table = pd.read_parquet(tmp_path / "readme" / "analysis" / "table.parquet")
    assert sorted(table["model.name"]) == ["cpu-m", "cpu-xxs"]
    assert set(table["max_steps"]) == {300} and set(table["optim.hold_steps"]) == {100}


def test_no_import_circle_in_the_tune_package():
    """memtune/tune's modules import each other one way only (overrides.py and sweep.py used
    to import each other), module-level and function-level imports alike."""
    import ast

    tune = ROOT / "memtune" / "tune"
    names = {p.stem for p in tune.glob("*.py")}
    edges = {}
    for p in tune.glob("*.py"):
        found = set()
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("memtune.tune"):
                found.add(node.module.rsplit(".", 1)[-1])
        edges[p.stem] = found & names - {p.stem}

    def reaches(a, b, seen=()):
        return any(n == b or (n not in seen and reaches(n, b, (*seen, n))) for n in edges[a])

    assert not [m for m in names if reaches(m, m)]


def test_generalization_n_seqs_clears_capacity_multiple():
    import importlib.util

    spec = importlib.util.spec_from_file_location("gen_sweep", ROOT / "sweeps/generalization.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    configs = expand(with_overrides(gen.PRESETS["default"], ["data.n_seqs=100"]))
    assert len(configs) == 2  # one N, the default's 2 seeds
    assert all(c["capacity_multiple"] == 0.0 and c["data"]["n_seqs"] == 100 for c in configs)
