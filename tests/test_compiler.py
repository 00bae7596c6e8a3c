"""optim.compile where torch.compile cannot build: the driver's C++ compiler check, what a dry run
prints, and what the compiled step costs in the plan."""

from types import SimpleNamespace

import pytest
from conftest import run_py

from memtune.core.compiler import cxx_compiler, cxx_name
from memtune.core.config import ModelConfig
from memtune.core.cost import COMPILE_SECONDS, COMPILED_FACTOR, step_ms
from memtune.tune.sweep import eager_without_compiler

MISSING = "/nonexistent/memtune-test-c++"


def configs() -> list[dict]:
    return [
        {"seed": 0, "optim": {"compile": True, "lr": 1e-3}},
        {"seed": 1, "optim": {"compile": False, "lr": 1e-3}},
        {"seed": 2},  # an experiment whose config has no optimizer
    ]


def test_cxx_is_the_compiler_torch_would_ask_for(monkeypatch):
    monkeypatch.setenv("CXX", MISSING)
    assert cxx_name() == MISSING and cxx_compiler() is None
    monkeypatch.setenv("CXX", "sh")  # any program on PATH
    assert cxx_compiler() is not None and cxx_compiler().endswith("/sh")


def test_a_local_run_without_a_compiler_trains_eager_and_says_so(monkeypatch, capsys):
    monkeypatch.setenv("CXX", MISSING)
    out = eager_without_compiler(configs(), SimpleNamespace(address=None))
    assert [c.get("optim", {}).get("compile") for c in out] == [False, False, None]
    assert out[0]["optim"]["lr"] == 1e-3 and out[2] == {"seed": 2}  # nothing else changed
    note = capsys.readouterr().out
    assert "optim.compile" in note and MISSING in note and "train eager" in note


def test_a_cluster_or_a_compiler_leaves_the_configs_as_given(monkeypatch, capsys):
    monkeypatch.setenv("CXX", MISSING)
    assert eager_without_compiler(configs(), SimpleNamespace(address="auto")) == configs()
    monkeypatch.setenv("CXX", "sh")
    assert eager_without_compiler(configs(), SimpleNamespace(address=None)) == configs()
    assert capsys.readouterr().out == ""


def test_the_dry_run_of_the_default_says_when_it_cannot_compile():
    proc = run_py("sweeps/capacity.py", "--dry-run", "--num-cpus", "2", env={"CXX": MISSING})
    assert proc.returncode == 0, proc.stderr
    assert "no C++ compiler" in proc.stdout and "train eager" in proc.stdout
    # the same plan with a compiler: compiled, so a shorter step plus each trial's compile time
    compiled = run_py("sweeps/capacity.py", "--dry-run", "--num-cpus", "2", env={"CXX": "sh"})
    assert "no C++ compiler" not in compiled.stdout
    wall = [
        float(p.stdout.split("expected wall time ")[1].split(" min")[0]) for p in (proc, compiled)
    ]
    assert wall[0] == pytest.approx(72_000 * 7.0 / 1000 / 60, abs=0.05)
    assert wall[1] == pytest.approx((72_000 * 7.0 * COMPILED_FACTOR / 1000 + COMPILE_SECONDS) / 60,
                                    abs=0.05)  # fmt: skip


def test_a_compiled_step_costs_its_factor_of_the_eager_one():
    m = ModelConfig.preset("cpu-xs")
    assert 0 < COMPILED_FACTOR < 1 and COMPILE_SECONDS > 0
    assert step_ms(m, 128, 64, 2, compiled=True) == pytest.approx(
        COMPILED_FACTOR * step_ms(m, 128, 64, 2)
    )
    assert step_ms(m, 128, 64, 2, "bf16", compiled=True) == pytest.approx(
        COMPILED_FACTOR * step_ms(m, 128, 64, 2, "bf16")
    )
