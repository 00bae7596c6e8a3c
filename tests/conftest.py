"""Shared test setup: Ray stays on loopback, torch on one thread, sweeps in subprocesses."""

import os
import subprocess
import sys
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


@pytest.fixture(autouse=True)
def _one_thread():
    import torch

    torch.set_num_threads(1)
    yield
