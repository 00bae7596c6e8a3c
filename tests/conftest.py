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
    *args: str, cwd: Path | None = None, timeout: float = 600, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Run ``python ARGS`` in a fresh process, as a user would, with the repo importable (and
    ``env`` added to the environment: a session fixture cannot monkeypatch it)."""
    env = {**os.environ, **(env or {}), "PYTHONPATH": str(ROOT),
           "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}  # fmt: skip
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd or ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


# ``python SCRIPT ARGS`` as Python runs it (the script as __main__, its folder first on the
# path), then, however it exits, whether its driver imported torch from launch to exit: the
# capacity smoke sweep runs so, and is the one real run that check needs
# (tests/test_sweep_capacity.py), which then costs no sweep of its own
AS_SCRIPT = """\
import runpy, sys
from pathlib import Path
sys.argv = sys.argv[1:]
sys.path[0] = str(Path(sys.argv[0]).resolve().parent)
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
finally:
    print("driver imported torch:", "torch" in sys.modules, flush=True)
"""


def run_smoke(tmp_path_factory, experiment: str, *flags: str) -> tuple[Path, str, float]:
    """Run ``sweeps/EXPERIMENT.py --preset smoke`` as a user would: (store, stdout, wall s).
    The capacity sweep's output ends saying whether its driver imported torch (``AS_SCRIPT``).
    """
    storage = tmp_path_factory.mktemp("results")
    name = f"{experiment}_smoke_test"
    launch = ["-c", AS_SCRIPT] if experiment == "capacity" else []
    t0 = time.perf_counter()
    proc = run_py(*launch, f"sweeps/{experiment}.py", "--preset", "smoke",
                  "--storage-path", str(storage), "--name", name, *flags)  # fmt: skip
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


# The capacity smoke preset at N=16, 2 seeds, whose seed-1 trials fail while MEMTUNE_TEST_FAIL
# is set: the experiment is left unfinished the way a crash would leave it
FLAKY = """\
import os, sys
from memtune.core.cli import run_cli
from memtune.experiments import get
from memtune.tune.sweep import run_sweep
from memtune.tune.trainable import make_trainable
sys.path.insert(0, 'sweeps')
from capacity import PRESETS
def trainable(config):
    if os.environ.get('MEMTUNE_TEST_FAIL') and config['seed'] == 1:
        raise RuntimeError('injected failure')
    make_trainable(get('capacity'))(config)
run_cli(lambda a: run_sweep('capacity', PRESETS, a, trainable=trainable), sys.argv[1:])
"""
FLAKY_SET = ["--set", "data.n_seqs=[16]", "--set", "seed=[0,1]"]


@pytest.fixture(scope="session")
def failed_run(tmp_path_factory):
    """(folder, stdout) of one real capacity sweep whose 2 seed-1 trials fail (``FLAKY``): the
    experiment is ``folder/old/exp`` and the script ``folder/flaky.py``. One sweep serves the
    errored-trials report (tests/test_sweep_capacity.py, stdout only) and the moved store
    (tests/test_multi_store.py, which moves ``old`` away: nothing else reads it)."""
    folder = tmp_path_factory.mktemp("failed")
    script = folder / "flaky.py"
    script.write_text(FLAKY)
    proc = run_py(str(script), "--preset", "smoke", "--storage-path", str(folder / "old"),
                  "--name", "exp", "--num-cpus", "2", "--max-failures", "0", *FLAKY_SET,
                  env={"MEMTUNE_TEST_FAIL": "1"})  # fmt: skip
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    return folder, proc.stdout


@pytest.fixture
def smoke(request, smoke_run):
    """(path, stdout, wall seconds) of the smoke sweep of the module's ``EXPERIMENT``."""
    return smoke_run(request.module.EXPERIMENT)


@pytest.fixture(autouse=True)
def _one_thread():
    import torch

    torch.set_num_threads(1)
    yield
