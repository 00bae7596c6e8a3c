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


@pytest.fixture(scope="session")
def smoke(tmp_path_factory):
    """One real smoke capacity sweep per test session: (experiment path, its stdout)."""
    storage = tmp_path_factory.mktemp("results")
    proc = run_py("sweeps/capacity.py", "--preset", "smoke", "--storage-path", str(storage),
                  "--name", "capacity_smoke_test")  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return storage / "capacity_smoke_test", proc.stdout


@pytest.fixture(scope="session")
def threshold_smoke(tmp_path_factory):
    """One real smoke threshold search per session: (experiment path, its stdout, wall seconds)."""
    storage = tmp_path_factory.mktemp("results")
    t0 = time.perf_counter()
    proc = run_py("sweeps/threshold.py", "--preset", "smoke", "--storage-path", str(storage),
                  "--name", "threshold_smoke_test")  # fmt: skip
    wall = time.perf_counter() - t0
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return storage / "threshold_smoke_test", proc.stdout, wall


@pytest.fixture(scope="session")
def scaling_smoke(tmp_path_factory):
    """One real smoke scaling sweep per session: (experiment path, its stdout)."""
    storage = tmp_path_factory.mktemp("results")
    proc = run_py("sweeps/scaling.py", "--preset", "smoke", "--storage-path", str(storage),
                  "--name", "scaling_smoke_test", "--num-cpus", "2")  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return storage / "scaling_smoke_test", proc.stdout


@pytest.fixture(scope="session")
def zipf_smoke(tmp_path_factory):
    """One real smoke Zipf sweep per session: (experiment path, its stdout)."""
    storage = tmp_path_factory.mktemp("results")
    proc = run_py("sweeps/zipf.py", "--preset", "smoke", "--storage-path", str(storage),
                  "--name", "zipf_smoke_test", "--num-cpus", "2")  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return storage / "zipf_smoke_test", proc.stdout


@pytest.fixture(scope="session")
def predict_smoke(tmp_path_factory):
    """One real smoke predict sweep per session: (experiment path, its stdout)."""
    storage = tmp_path_factory.mktemp("results")
    proc = run_py("sweeps/predict.py", "--preset", "smoke", "--storage-path", str(storage),
                  "--name", "predict_smoke_test", "--num-cpus", "2")  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return storage / "predict_smoke_test", proc.stdout


@pytest.fixture(autouse=True)
def _one_thread():
    import torch

    torch.set_num_threads(1)
    yield
