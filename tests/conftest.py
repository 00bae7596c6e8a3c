"""Shared test setup: Ray stays on loopback, torch on one thread, sweeps in subprocesses."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

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


# One real smoke sweep of each experiment per test session, shared by every module using it.


@pytest.fixture(scope="session")
def smoke(tmp_path_factory):
    """The capacity sweep: (experiment path, its stdout)."""
    return run_smoke(tmp_path_factory, "capacity")[:2]


@pytest.fixture(scope="session")
def threshold_smoke(tmp_path_factory):
    """The threshold search: (experiment path, its stdout, wall seconds)."""
    return run_smoke(tmp_path_factory, "threshold")


@pytest.fixture(scope="session")
def scaling_smoke(tmp_path_factory):
    """The scaling sweep: (experiment path, its stdout)."""
    return run_smoke(tmp_path_factory, "scaling", "--num-cpus", "2")[:2]


@pytest.fixture(scope="session")
def zipf_smoke(tmp_path_factory):
    """The Zipf sweep: (experiment path, its stdout)."""
    return run_smoke(tmp_path_factory, "zipf", "--num-cpus", "2")[:2]


@pytest.fixture(scope="session")
def predict_smoke(tmp_path_factory):
    """The predict sweep: (experiment path, its stdout)."""
    return run_smoke(tmp_path_factory, "predict", "--num-cpus", "2")[:2]


@pytest.fixture(autouse=True)
def _one_thread():
    import torch

    torch.set_num_threads(1)
    yield
