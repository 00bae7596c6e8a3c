"""What every registered experiment shares, parametrized over the registry.

A new experiment (one folder under ``memtune/experiments/``, ``sweeps/<name>.py`` and
``analysis/<name>/``) is covered here without editing this file: its smoke sweep runs for real,
its analysis refuses corrupted stores in one line, its driver starts without torch, and the
layout's rules hold (no experiment imports another, the core imports none, only
``memtune/tune`` imports Ray).
"""

import ast
import importlib
import runpy
import shutil

import pytest
from conftest import EXPERIMENTS, ROOT, run_py
from test_bad_input import assert_one_line_error, run_inproc

from memtune.experiments import get, registry

PACKAGES = ROOT / "memtune"


def analysis_main(name):
    return importlib.import_module(get(name).analysis_module).main


def sweep_main(name):
    return runpy.run_path(str(ROOT / "sweeps" / f"{name}.py"), run_name="not_main")["main"]


def test_every_experiment_folder_is_registered_with_a_sweep_and_an_analysis():
    folders = sorted(
        p.name for p in (PACKAGES / "experiments").iterdir() if (p / "__init__.py").exists()
    )
    assert sorted(registry()) == folders
    for name in folders:
        assert (ROOT / "sweeps" / f"{name}.py").is_file(), name
        module = importlib.import_module(get(name).analysis_module)
        assert callable(module.main) and callable(module.analyze_experiment), name


def _imports(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.module


def _files(folder):
    return sorted(folder.rglob("*.py"))


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_no_experiment_imports_another(name):
    others = {f"memtune.experiments.{o}" for o in EXPERIMENTS if o != name}
    for f in _files(PACKAGES / "experiments" / name):
        bad = [m for m in _imports(f) if any(m == o or m.startswith(o + ".") for o in others)]
        assert not bad, f"{f.relative_to(ROOT)} imports {bad}"


def test_the_core_imports_no_experiment_and_only_memtune_tune_imports_ray():
    for f in _files(PACKAGES):
        mods = list(_imports(f))
        if f.is_relative_to(PACKAGES / "core"):
            assert not [m for m in mods if m.startswith("memtune.experiments")], f
        if not f.is_relative_to(PACKAGES / "tune"):
            assert not [m for m in mods if m == "ray" or m.startswith("ray.")], f


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_sweep_driver_imports_no_torch(name):
    """Importing the sweep and expanding every preset costs no torch, scipy or matplotlib:
    torch alone adds ~2 s to every sweep's start-up (benchmarks/run.py measures it)."""
    check = (
        "import runpy, sys\n"
        "from memtune.tune.sweep import expand\n"
        "module = runpy.run_path(sys.argv[1], run_name='not_main')\n"
        "for preset in module['PRESETS'].values():\n"
        "    expand(preset)\n"
        "heavy = sorted(m for m in ('torch', 'scipy', 'matplotlib') if m in sys.modules)\n"
        "print('imported:', ','.join(heavy) or 'none')\n"
    )
    proc = run_py("-c", check, f"sweeps/{name}.py")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "imported: none"


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_unknown_preset(name, tmp_path, capsys):
    proc = run_inproc(sweep_main(name), ["--preset", "giant", "--storage-path", str(tmp_path)],
                      capsys)  # fmt: skip
    assert_one_line_error(proc, "--preset", "giant", "smoke", "default")


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_resume_without_an_experiment(name, tmp_path, capsys):
    proc = run_inproc(sweep_main(name), ["--resume", "--storage-path", str(tmp_path)], capsys)
    assert_one_line_error(proc, "--resume", f"no {name} experiment")


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_analysis_of_a_folder_without_an_experiment(name, tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("no experiment here")
    proc = run_inproc(analysis_main(name), [str(tmp_path)], capsys)
    assert_one_line_error(proc, "holds no Tune experiment")
    proc = run_inproc(analysis_main(name), [str(tmp_path / "nope")], capsys)
    assert_one_line_error(proc, "does not exist")


@pytest.mark.slow
@pytest.mark.parametrize("name", EXPERIMENTS)
def test_smoke_sweep_runs_and_analyses_its_experiment(name, smoke_run):
    path, out, _ = smoke_run(name)
    assert list(path.glob("experiment_state-*.json")), path
    assert "[memtune] wrote" in out  # the analysis ran on the finished experiment
    assert (path / "analysis").is_dir()


@pytest.mark.slow
@pytest.mark.parametrize("name", EXPERIMENTS)
def test_an_existing_experiment_is_never_overwritten(name, smoke_run):
    path = smoke_run(name)[0]
    before = sorted((p, p.stat().st_mtime_ns) for p in path.rglob("*") if p.is_file())
    proc = run_py(f"sweeps/{name}.py", "--preset", "smoke", "--storage-path", str(path.parent),
                  "--name", path.name)  # fmt: skip
    assert_one_line_error(proc, "exists", "--resume")
    assert sorted((p, p.stat().st_mtime_ns) for p in path.rglob("*") if p.is_file()) == before


def _corrupt_copy(src, dst, how):
    shutil.copytree(src, dst)
    trial = sorted(p for p in dst.iterdir() if (p / "result.json").exists())[0]
    if how == "truncated result.json":
        text = (trial / "result.json").read_text()
        (trial / "result.json").write_text(text[: len(text) // 2])
    elif how == "missing params":
        (trial / "params.json").unlink()
    elif how == "corrupted experiment state":
        for f in dst.glob("experiment_state-*.json"):
            f.write_text('{"trial_data": [')
    return trial.name


@pytest.mark.slow
@pytest.mark.parametrize("name", EXPERIMENTS)
@pytest.mark.parametrize(
    "how, words",
    [
        ("truncated result.json", ["result.json line", "is truncated or corrupted", "--resume"]),
        ("missing params", ["has no params.json", "incomplete"]),
        ("corrupted experiment state", ["cannot read experiment", "JSONDecodeError"]),
    ],
)
def test_half_written_or_corrupted_experiments(name, how, words, smoke_run, tmp_path, capsys):
    bad = tmp_path / "copy"
    _corrupt_copy(smoke_run(name)[0], bad, how)
    before = sorted((p, p.stat().st_mtime_ns) for p in bad.rglob("*"))
    proc = run_inproc(analysis_main(name), [str(bad), "--out", str(tmp_path / "out")], capsys)
    assert_one_line_error(proc, *words)
    assert sorted((p, p.stat().st_mtime_ns) for p in bad.rglob("*")) == before  # untouched


@pytest.mark.slow
@pytest.mark.parametrize("name", EXPERIMENTS)
def test_tensorboard_shows_training_on_the_x_axis_and_hparams_of_the_swept_config(name, smoke_run):
    """Read back with tensorboard's own reader: every curve against the experiment's x_axis
    metric (training steps; epochs for the scaling law), not the report count, and an HParams
    entry per trial with the swept config (a model by name) and the headline metrics."""
    import json

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import metadata

    experiment = get(name)
    path = smoke_run(name)[0]
    trials = [p.parent for p in path.glob("*/events.out.tfevents.*")]
    assert trials, path
    for trial in trials:
        acc = EventAccumulator(str(trial))
        acc.Reload()
        head = f"ray/tune/{experiment.headline[0]}"
        steps = [e.step for e in acc.Scalars(head)]
        rows = [json.loads(line) for line in (trial / "result.json").read_text().splitlines()]
        assert steps == [int(r[experiment.x_axis]) for r in rows], trial.name
        content = acc.PluginTagToContent("hparams")
        start = metadata.parse_session_start_info_plugin_data(
            content["_hparams_/session_start_info"]
        )
        hp = {k: v.string_value or v.number_value for k, v in start.hparams.items()}
        config = json.loads((trial / "params.json").read_text())
        for key in hp:
            assert key in json.dumps(config), (key, trial.name)
        if "model" in hp:
            assert hp["model"] == config["model"]["name"]
        info = metadata.parse_experiment_plugin_data(content["_hparams_/experiment"])
        assert {m.name.tag for m in info.metric_infos} == {
            f"ray/tune/{m}" for m in experiment.headline
        }
