"""Shared test setup: Ray stays on loopback, torch on one thread, sweeps in subprocesses."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from memtune.experiments import registry

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
ROOT = Path(__file__).resolve().parents[1]


def run_py(
    *args: str, cwd: Path | None = None, timeout: float = 600
) -> subprocess.CompletedProcess:
    """Run ``python ARGS`` in a fresh process, as a user would, with the repo importable."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd or ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_smoke(tmp_path_factory, experiment: str, *flags: str) -> tuple[Path, str, float]:
    """Run ``sweeps/EXPERIMENT.py --preset smoke`` as a user would: (store, stdout, wall s)."""
    storage = tmp_path_factory.mktemp("results")
    name = f"{experiment}_smoke_test"
    t0 = time.perf_counter()
    proc = run_py(f"sweeps/{experiment}.py", "--preset", "smoke", "--storage-path", str(storage),
                  "--name", name, *flags)  # fmt: skip
    wall = time.perf_counter() - t0
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return storage / name, proc.stdout, wall


# One real smoke sweep of each experiment per test session, shared by every test that reads it.
# Experiments come from the registry: a new one is covered without editing this file.

EXPERIMENTS = sorted(registry())


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    """smoke_run(name) -> (experiment path, stdout, wall seconds) of its smoke sweep, run once."""
    runs: dict[str, tuple[Path, str, float]] = {}

    def get(name: str) -> tuple[Path, str, float]:
        if name not in runs:
            runs[name] = run_smoke(tmp_path_factory, name, "--num-cpus", "2")
        return runs[name]

    return get


@pytest.fixture
def smoke(request, smoke_run):
    """(path, stdout, wall seconds) of the smoke sweep of the module's ``EXPERIMENT``."""
    return smoke_run(request.module.EXPERIMENT)


@pytest.fixture(autouse=True)
def _one_thread():
    import torch

    torch.set_num_threads(1)
    yield
