"""A sweep's driver starts without torch: it only names the trainable and validates configs.

Importing torch costs ~2 s of every sweep's start-up (benchmarks/run.py measures it); the
trainables import it in the trial's worker instead. Every sweep script is checked, so a new
experiment that imports torch at module level in its driver path fails here.
"""

import pytest
from conftest import ROOT, run_py

SWEEPS = sorted(p.name for p in (ROOT / "sweeps").glob("*.py"))

CHECK = """
import runpy, sys
from memtune.sweep import expand
module = runpy.run_path(sys.argv[1], run_name="not_main")
for preset in module["PRESETS"].values():
    expand(preset)
heavy = sorted(m for m in ("torch", "scipy", "matplotlib") if m in sys.modules)
print("imported:", ",".join(heavy) or "none")
"""


@pytest.mark.parametrize("script", SWEEPS)
def test_sweep_driver_imports_no_torch(script):
    proc = run_py("-c", CHECK, f"sweeps/{script}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "imported: none"
