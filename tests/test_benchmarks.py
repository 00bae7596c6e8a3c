"""The benchmark script runs in its tiny form and measures every ratio, so it cannot rot."""

import importlib.util
import json
import math

import pytest
from conftest import ROOT, run_py


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_run", ROOT / "benchmarks" / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_throughput_ratio_is_bare_over_memtune():
    # memtune evaluating every sequence after every step does about twice the bare loop's work:
    # bare / memtune is well below 1 (memtune / bare, the ratio inverted, would be above 1)
    r = load_bench().trainer_ratios("cpu-xxs", steps=12, eval_every=1, repeats=1)
    assert r["throughput_ratio"] < 0.8, r
    assert r["eval_share"] > 0.2, r
    assert r["throughput_pairs_min"] == r["throughput_ratio"] == r["throughput_pairs_max"]


def test_the_step_benchmark_times_the_default_trials_step():
    """The eager and fused steps of the default's cpu-xs trial run through memtune's own step;
    the first step is timed apart (it holds a compile when there is one)."""
    bench = load_bench()
    for fused in (False, True):
        first, ms = bench.step_times("cpu-xs", 3, fused=fused, compiled=False)
        assert first > 0 and 0 < ms < 1000


@pytest.mark.slow
def test_quick_benchmark_reports_every_ratio(tmp_path):
    out = tmp_path / "bench.json"
    proc = run_py("benchmarks/run.py", "--quick", "--out", str(out))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    r = json.loads(out.read_text())
    for key in [
        "throughput_ratio_cpu-xxs", "throughput_ratio_nano", "eval_share_cpu-xxs",
        "sweep_efficiency_smoke", "sweep_efficiency_smoke_tune_only", "startup_seconds_smoke",
        "search_busy_fraction_smoke", "trials_vs_threads_nano",
        *(f"{k}_{m}" for m in ("cpu-xxs", "cpu-xs") for k in (
            "step_fused_ratio", "step_flushed_ratio", "step_compiled_ratio",
            "step_compiled_life_ratio", "step_ms_eager", "step_ms_flushed", "compile_seconds")),
    ]:  # fmt: skip
        assert math.isfinite(r[key]) and r[key] > 0, key
    assert 0.3 < r["throughput_ratio_cpu-xxs"] < 3  # same work in both loops
    assert r["eval_share_cpu-xxs"] < 0.5
    assert r["sweep_efficiency_smoke"] < r["sweep_efficiency_smoke_tune_only"] <= 1.05
    assert 0 < r["search_busy_fraction_smoke"] <= 1.05
    # the compiled step's life ratio counts its compile: below its per-step ratio
    assert r["step_compiled_life_ratio_cpu-xs"] < r["step_compiled_ratio_cpu-xs"]
    assert "cpu-xs step: eager" in proc.stdout
    assert "throughput_ratio_nano" in proc.stdout and "search_busy_fraction_smoke" in proc.stdout
    # start-up: launch to the first step, in parts; the first step comes after the trainable
    parts = [r[f"startup_part_{p}_seconds_smoke"] for p in ("imports", "ray_init", "worker")]
    assert all(math.isfinite(p) and p > 0 for p in parts), parts
    assert 0 < r["startup_to_trainable_seconds_smoke"] < r["startup_seconds_smoke"]
    assert "start-up, smoke preset: launch to the first training step" in proc.stdout
    assert r["startup_median_seconds"] == r["startup_seconds_smoke"] and r["startup_runs"] == 1
    assert "start-up, smoke preset, 1 run(s): median" in proc.stdout
    # the trials' time over the 2 CPUs: the smoke preset's 4 trials, each on one CPU
    cpus = [k.removesuffix("_busy_seconds_smoke") for k in r if k.endswith("_busy_seconds_smoke")]
    assert sum(r[f"{c}_trials_smoke"] for c in cpus) == 4
    assert min(r[f"{c}_idle_tail_seconds_smoke"] for c in cpus) == 0  # the last trial's CPU
    assert "trial time per CPU, smoke preset" in proc.stdout and "idle tail" in proc.stdout
