"""--set PATH=VALUE: parsing, the grid it makes, one-line errors before Ray starts, --help."""

import sys

import pytest
from conftest import ROOT, run_py
from test_bad_input import assert_one_line_error, capacity_main, run_inproc

from memtune.core.config import ConfigError
from memtune.tune.overrides import parse_value
from memtune.tune.sweep import axis_paths, expand, with_overrides

sys.path.insert(0, str(ROOT / "sweeps"))
from capacity import PRESETS  # noqa: E402

SMOKE = PRESETS["smoke"]


@pytest.mark.parametrize(
    "text, value",
    [
        ("0.3", 0.3), ("3", 3), ("true", True), ("False", False), ("null", None),
        ("cpu-m", "cpu-m"), ('"a b"', "a b"), ("[0,1,2]", [0, 1, 2]),
        ("[cpu-xxs, cpu-m]", ["cpu-xxs", "cpu-m"]), ("[[a,b],[c]]", [["a", "b"], ["c"]]),
        ('{"lr_scale": 0.3}', {"lr_scale": 0.3}), ("", ""), ("[]", []),
    ],
)  # fmt: skip
def test_values_are_json_like_literals(text, value):
    assert parse_value(text) == value


def test_a_list_makes_or_replaces_an_axis_and_a_value_fixes_one():
    sweep = with_overrides(SMOKE, ["seed=[0,1]", "data.n_seqs=16", "optim.lr_scale=0.3"])
    configs = expand(sweep)
    assert axis_paths(sweep) == ["model", "seed"]  # n_seqs was an axis; now fixed
    assert len(configs) == 4
    assert {c["data"]["n_seqs"] for c in configs} == {16}
    assert {c["optim"]["lr_scale"] for c in configs} == {0.3}


def test_model_name_picks_whole_named_presets_and_later_overrides_change_them():
    sweep = with_overrides(SMOKE, ["model.name=[cpu-xxs,cpu-m]", "model.pos_emb=rope"])
    models = {(c["model"]["name"], c["model"]["d_model"], c["model"]["pos_emb"]) for c in
              expand(sweep)}  # fmt: skip
    assert models == {("cpu-xxs", 8, "rope"), ("cpu-m", 24, "rope")}
    one = expand(with_overrides(SMOKE, ["model.name=cpu-m"]))
    assert {c["model"]["d_model"] for c in one} == {24} and len(one) == 2  # 2 n_seqs


@pytest.mark.parametrize(
    "override, words",
    [
        ("optim.lr_scal=1", ["unknown config field optim.lr_scal", "optim.lr_scale"]),
        ("max_steps=abc", ["max_steps", "integer"]),
        ("model.name=[cpu-xxs,nope]", ["unknown model preset 'nope'", "cpu-m"]),
        ("seed", ["PATH=VALUE"]),
        ("seed.x=1", ["seed is a value"]),
        ("model.n_layer=[1,2]", ["nest one axis in another"]),
        ("seed=[]", ["empty list"]),
        ("optim.lr_scale=-1", ["optim.lr_scale must be > 0"]),
    ],
)
def test_bad_overrides(override, words):
    with pytest.raises(ConfigError) as e:
        expand(with_overrides(SMOKE, [override]))
    for w in words:
        assert w in str(e.value)


def test_a_bad_override_is_one_line_exit_2_before_ray_starts(tmp_path):
    store = tmp_path / "store"
    proc = run_py("sweeps/capacity.py", "--preset", "smoke", "--storage-path", str(store),
                  "--set", "optim.lr_scale=0.3", "--set", "optim.lr_scal=1")  # fmt: skip
    assert_one_line_error(proc, "unknown config field optim.lr_scal")
    assert not store.exists()  # nothing was written: Ray never started
    assert "ray" not in proc.stdout.lower()


@pytest.mark.parametrize(
    "args, words",
    [
        (["--resume", "--set", "seed=1"], ["--set cannot change"]),
        (["--resume", "--extend"], ["--extend cannot change"]),
        (["--extend", "--name", "nope"], ["cannot read experiment", "nope"]),
    ],
)
def test_flags_that_do_not_go_together(args, words, tmp_path, capsys):
    proc = run_inproc(capacity_main(), ["--storage-path", str(tmp_path), *args], capsys)
    assert_one_line_error(proc, *words)


def test_help_lists_the_settable_paths(capsys):
    with pytest.raises(SystemExit):
        capacity_main()(["--help"])
    out = capsys.readouterr().out
    assert "--set PATH=VALUE" in out
    for path in ["optim.lr_scale", "data.n_seqs", "seed", "model.name"]:
        assert path in out
    assert "picks a whole named preset" in " ".join(out.split())  # argparse wraps lines
