"""How close memtune runs to the machine's limit: ratios measured in one run, not absolute times.

    python benchmarks/run.py                 # full: default presets, ~18 minutes
    python benchmarks/run.py --quick         # smoke presets and short loops, ~2 minutes

Prints a table and writes benchmarks/latest.json (or --out). Ratios:
- trainer throughput: tokens/s of memtune's train() (metrics at the default interval included)
  over a bare torch loop on the same model, data, batches and optimizer with no metrics;
- evaluation share: seconds computing memorization metrics / trial seconds, default interval;
- sweep efficiency: sum of trial training seconds / (wall seconds x CPUs), for the whole
  command and for Tune's part of it (the rest is interpreter, import and Ray start-up);
- fused / flushed / compiled step: ms a training step of the default preset's exact trials
  (cpu-xxs at N = 99, full batch; cpu-xs at N = 191, batches of 128) at their peak lr, with
  torch's foreach AdamW (eager), the fused AdamW, the fused one with denormals flushed
  (memtune's eager step) and ``optim.compile`` besides (the default preset's), as eager /
  other; the compiled one also over a trial's whole life, its compile time counted (the
  default's budget: eager ms x steps / (compiled ms x steps + compile seconds));
- trials vs threads: two trainings as two 1-thread processes at once over one 2-thread process
  running them in turn (why memtune gives each trial one CPU and one thread);
- start-up: seconds from launching `python sweeps/capacity.py` to the first trial's first
  training step, and its parts (the driver's imports, ray.init, Tune's set-up, the worker's);
- trial time per CPU: how the capacity preset's trial seconds fall on the CPUs (busy seconds
  and the idle tail each CPU leaves while another still trains);
- threshold search busy fraction: the same ratio for the threshold search (many short probes
  chosen one by one by the Searcher), over Tune's part.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from memtune.core.config import ModelConfig, OptimConfig  # noqa: E402
from memtune.core.data import with_bos  # noqa: E402
from memtune.core.models import build_model  # noqa: E402
from memtune.core.optim import BatchOrder, lr_at, make_optimizer  # noqa: E402
from memtune.experiments.capacity.config import DataConfig, TrainConfig  # noqa: E402
from memtune.experiments.capacity.data import make_random_sequences  # noqa: E402
from memtune.experiments.capacity.loop import train  # noqa: E402


def bare_loop_seconds(cfg: TrainConfig) -> float:
    """The same training as ``train(cfg)`` with nothing but forward, backward, clip and step."""
    torch.manual_seed(cfg.seed)
    data = make_random_sequences(cfg.data, cfg.seed)
    model = build_model(cfg.model, cfg.data.vocab_size, cfg.data.seq_len)
    inputs = with_bos(data, model.bos_id)
    peak = cfg.optim.peak_lr(cfg.model.d_model)
    opt = make_optimizer(model, cfg.optim, peak)
    order = BatchOrder(cfg.data.n_seqs, cfg.optim.batch_size, cfg.seed)
    t0 = time.perf_counter()
    for step in range(cfg.max_steps):
        idx = order(step)
        x, y = (inputs, data) if idx is None else (inputs[idx], data[idx])
        logits = model(x)
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)), y.view(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.optim.grad_clip, foreach=True)
        for g in opt.param_groups:
            g["lr"] = lr_at(step, peak, cfg.optim, cfg.max_steps)
        opt.step()
    return time.perf_counter() - t0


def bench_config(model: str, steps: int, eval_every: int) -> TrainConfig:
    """512 sequences in batches of 128, no early stop: the same work in every loop compared."""
    return TrainConfig(
        model=ModelConfig.preset(model),
        data=DataConfig(n_seqs=512),
        optim=OptimConfig(batch_size=128),
        max_steps=steps,
        eval_every=eval_every,
        patience=10**9,
        target_efficiency=1.0,
        target_excess_bits=0.0,
    )


def trainer_ratios(model: str, steps: int, eval_every: int, repeats: int) -> dict[str, float]:
    """memtune vs bare loop on one model: the median over back-to-back pairs of runs.

    A shared machine's speed drifts by several percent from one run to the next; the ratio of
    two runs made back to back cancels most of it, and the median discards an outlier pair.
    """
    cfg = bench_config(model, steps, eval_every)
    ratios, bare, share = [], [], []
    for _ in range(repeats):
        bare.append(bare_loop_seconds(cfg))
        t0 = time.perf_counter()
        m = train(cfg)
        ratios.append(bare[-1] / (time.perf_counter() - t0))
        share.append(m["eval_seconds"] / (m["train_seconds"] + m["eval_seconds"]))
    tokens = steps * 128 * cfg.data.seq_len
    return {
        "throughput_ratio": statistics.median(ratios),
        "throughput_pairs_min": min(ratios),  # the spread shows the machine's noise
        "throughput_pairs_max": max(ratios),
        "eval_share": statistics.median(share),
        "bare_tokens_per_s": tokens / min(bare),
    }


# the default capacity preset's trials: model -> (N, batch_size, its step budget)
DEFAULT_TRIALS = {"cpu-xxs": (99, 0, 72_000), "cpu-xs": (191, 128, 48_000)}
STEP_VARIANTS = {  # name -> (fused, compiled, flush_denormal)
    "eager": (False, False, False),  # foreach AdamW: the step before the fused one (4c37bdc)
    "fused": (True, False, False),  # the fused AdamW (4c74893)
    "flushed": (True, False, True),  # fused, denormals flushed: memtune's eager step now
    "compiled": (True, True, True),  # and compiled: optim.compile (the default preset's)
}


def step_times(
    model_name: str, steps: int, fused: bool, compiled: bool, flush_denormal: bool = True
) -> tuple[float, float]:
    """(seconds of the first step, which holds any compile; ms a step over the next ``steps``)
    of one default-preset trial's training step, through memtune's own optimizer_step, at the
    trial's peak lr: a step's cost depends on the values it meets (denormals, which the model
    meets once it trains at its lr; ``make_optimizer``), so the model trains as in a trial."""
    import copy

    from memtune.core.optim import optimizer_step

    n, batch, _ = DEFAULT_TRIALS[model_name]
    cfg = TrainConfig(
        model=ModelConfig.preset(model_name), data=DataConfig(n_seqs=n),
        optim=OptimConfig(batch_size=batch, compile=compiled),
    )  # fmt: skip
    torch.manual_seed(0)
    data = make_random_sequences(cfg.data, 0)
    model = copy.deepcopy(build_model(cfg.model, cfg.data.vocab_size, cfg.data.seq_len))
    inputs = with_bos(data, model.bos_id)
    lr = cfg.optim.peak_lr(cfg.model.d_model)
    opt = make_optimizer(model, cfg.optim, lr, fused=fused, flush_denormal=flush_denormal)
    order = BatchOrder(n, batch, 0)

    def step(s: int) -> None:
        idx = order(s)
        x, y = (inputs, data) if idx is None else (inputs[idx], data[idx])
        optimizer_step(opt, model, model(x), y, lr, cfg.optim.grad_clip)

    t0 = time.perf_counter()
    step(0)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    for s in range(1, steps + 1):
        step(s)
    return first, (time.perf_counter() - t0) / steps * 1000


def step_ratios(model_name: str, steps: int, repeats: int) -> dict[str, float]:
    """Eager over fused and over compiled ms a step, medians of back-to-back triples, and the
    compiled step over a trial's life at the default's budget, its compile time counted."""
    runs: dict[str, list[tuple[float, float]]] = {v: [] for v in STEP_VARIANTS}
    for _ in range(repeats):
        for name, (fused, compiled, flush) in STEP_VARIANTS.items():
            runs[name].append(step_times(model_name, steps, fused, compiled, flush))
    ms = {v: statistics.median(m for _, m in r) for v, r in runs.items()}
    compile_s = statistics.median(
        c[0] - e[0] for c, e in zip(runs["compiled"], runs["eager"], strict=True)
    )
    life = DEFAULT_TRIALS[model_name][2]
    return {
        "step_ms_eager": ms["eager"],
        "step_ms_fused": ms["fused"],
        "step_ms_flushed": ms["flushed"],
        "step_ms_compiled": ms["compiled"],
        "step_fused_ratio": ms["eager"] / ms["fused"],
        "step_flushed_ratio": ms["eager"] / ms["flushed"],
        "step_compiled_ratio": ms["eager"] / ms["compiled"],
        "compile_seconds": compile_s,
        "step_compiled_life_ratio": ms["eager"] * life / (ms["compiled"] * life + 1000 * compile_s),
    }


TRAIN_CHILD = """
import sys, time
import torch
from benchmarks.run import bench_config
from memtune.experiments.capacity.loop import train
model, steps, threads, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(threads)
cfg = bench_config(model, steps, eval_every=250)
print("ready", flush=True)
sys.stdin.readline()  # every child starts training at the same moment
for _ in range(count):
    train(cfg)
print(time.time(), flush=True)
"""


def trials_vs_threads(model: str, steps: int) -> dict[str, float]:
    """Two trainings as two 1-thread processes at once vs one 2-thread process in turn.

    Above 1, one CPU per trial (memtune's default) gets more done than threads within a trial.
    """

    def run(threads: int, count: int, procs: int) -> float:
        children = [
            subprocess.Popen(
                [sys.executable, "-c", TRAIN_CHILD, model, str(steps), str(threads), str(count)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                cwd=ROOT,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )  # fmt: skip
            for _ in range(procs)
        ]
        for c in children:
            assert c.stdout.readline().strip() == "ready"
        start = time.time()
        for c in children:
            c.stdin.write("go\n")
            c.stdin.flush()
        ends = [float(c.communicate()[0].split()[-1]) for c in children]
        return max(ends) - start

    return {"trials_vs_threads": run(2, 2, 1) / run(1, 1, 2)}


def trial_times(path: Path) -> list[dict[str, Any]]:
    """Each trial's timeline on the driver's clock, from its TensorBoard event files.

    Tune's ``timestamp`` is whole seconds, too coarse for a start-up of a few seconds; the
    driver's TensorBoard logger stamps each result with ``time.time()`` when it arrives. At the
    first result, the trial's ``time_total_s`` goes back to when its trainable function started,
    and the loop's own clock (``train_seconds + eval_seconds``, which starts just before the
    first step) to its first training step. Results reach the driver within milliseconds.
    (``time_since_restore`` stands for ``time_total_s``, which the logger leaves out: a
    benchmark's trials are never restored.)

    Returns:
        one dict per trial: ``name``, ``start`` (trainable started), ``first_step``, ``end``
        (last result), ``busy`` (``time_total_s`` at the end); epoch seconds.
    """
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    def at(acc: Any, tag: str, i: int) -> tuple[float, float]:
        event = acc.Scalars(f"ray/tune/{tag}")[i]
        return event.wall_time, event.value

    trials = []
    for folder in sorted(p.parent for p in path.glob("*/events.out.tfevents.*")):
        acc = EventAccumulator(str(folder))
        acc.Reload()
        wall, total = at(acc, "time_since_restore", 0)
        _, train = at(acc, "train_seconds", 0)
        _, evaluation = at(acc, "eval_seconds", 0)
        end, busy = at(acc, "time_since_restore", -1)
        trials.append(
            {"name": folder.name, "start": wall - total, "first_step": wall - train - evaluation,
             "end": end, "busy": busy}
        )  # fmt: skip
    return trials


def run_and_load(script: str, preset: str) -> tuple[Any, float, float, list[dict[str, Any]]]:
    """Run a sweep as a user would (no analysis): its table, launch time, wall seconds and each
    trial's timeline (``trial_times``)."""
    from analysis.common.load import load_experiment

    with tempfile.TemporaryDirectory() as tmp:
        t_launch = time.time()
        proc = subprocess.run(
            [sys.executable, str(ROOT / "sweeps" / script), "--preset", preset,
             "--storage-path", tmp, "--name", "bench", "--no-analysis"],
            capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
        wall = time.time() - t_launch
        if proc.returncode != 0:
            raise SystemExit(f"sweep failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
        path = Path(tmp) / "bench"
        return load_experiment(path), t_launch, wall, trial_times(path)


def cpu_split(trials: list[dict[str, Any]], cpus: int) -> list[dict[str, Any]]:
    """How the trials' time falls on the CPUs: each trial on the CPU free longest at its start.

    Tune starts a trial when a CPU frees, so replaying the starts in order puts each trial back
    on the CPU it ran on (one CPU per trial). The idle tail of a CPU is the time from its last
    trial's end to the end of the sweep's last trial: a core left idle while another works.

    Returns:
        one dict per CPU: ``busy`` seconds (sum of its trials' ``time_total_s``), ``idle_tail``
        seconds, and its ``trials`` in order.
    """
    free = [{"at": -float("inf"), "busy": 0.0, "trials": []} for _ in range(cpus)]
    for t in sorted(trials, key=lambda t: t["start"]):
        cpu = min(free, key=lambda c: c["at"])
        cpu["at"], cpu["busy"] = t["end"], cpu["busy"] + t["busy"]
        cpu["trials"].append(t["name"])
    last = max(t["end"] for t in trials)
    return [
        {"busy": c["busy"], "idle_tail": last - c["at"] if c["trials"] else 0.0,
         "trials": c["trials"]}
        for c in free
    ]  # fmt: skip


DRIVER_IMPORTS = """
import runpy
runpy.run_path("sweeps/capacity.py", run_name="not_main")
from ray import tune
import memtune.tune.trainable
from memtune.tune.tensorboard import import_tensorboardx_without_torch
import_tensorboardx_without_torch()
"""

RAY_INIT = """
import time, types
from memtune.tune.sweep import _init_ray
import ray
args = types.SimpleNamespace(address=None, num_cpus=None)  # python sweeps/capacity.py's
t0 = time.perf_counter()
_init_ray(args)
print(time.perf_counter() - t0, flush=True)
ray.shutdown()
"""


def startup_parts() -> dict[str, float]:
    """The driver's start-up parts, each in a fresh process as the sweep runs it: the
    interpreter with everything the driver imports before its first trial, and ``ray.init`` as
    ``run_sweep`` calls it locally. The rest of the start-up is Tune's set-up up to the first
    trainable, and the worker's own (torch) up to the first step (``startup_ratios``)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", DRIVER_IMPORTS], cwd=ROOT, env=env, check=True)
    imports = time.perf_counter() - t0
    proc = subprocess.run(
        [sys.executable, "-c", RAY_INIT], cwd=ROOT, env=env, check=True,
        capture_output=True, text=True,
    )  # fmt: skip
    return {"imports": imports, "ray_init": float(proc.stdout.split()[-1])}


def busy_and_span(df: Any) -> tuple[float, float, float]:
    """Sum of trial seconds, first trial start (epoch s) and Tune's span from it to the end."""
    import pandas as pd

    end = pd.to_numeric(df["timestamp"])
    start = end - df["time_total_s"]
    return float(df["time_total_s"].sum()), float(start.min()), float(end.max() - start.min())


def sweep_ratios(preset: str) -> dict[str, float]:
    """Run a capacity preset and relate trial seconds to wall seconds (whole and Tune's part),
    time its start-up in parts, and split its trials' time over the CPUs."""
    cpus = os.cpu_count() or 1
    df, t_launch, wall, trials = run_and_load("capacity.py", preset)
    busy = float(df["train_seconds"].sum() + df["eval_seconds"].sum())
    _, first_start, tune_wall = busy_and_span(df)
    first = min(trials, key=lambda t: t["first_step"])
    parts = startup_parts()
    out = {
        f"sweep_efficiency_{preset}": busy / (wall * cpus),
        f"sweep_efficiency_{preset}_tune_only": busy / (tune_wall * cpus),
        # launch to the first trial's first training step (the start-up)
        f"startup_seconds_{preset}": first["first_step"] - t_launch,
        # launch to the first trainable function starting (this table's earlier start-up,
        # then read from Tune's whole-second timestamps)
        f"startup_to_trainable_seconds_{preset}": first["start"] - t_launch,
        f"startup_part_imports_seconds_{preset}": parts["imports"],
        f"startup_part_ray_init_seconds_{preset}": parts["ray_init"],
        f"startup_part_tune_seconds_{preset}": first["start"] - t_launch - sum(parts.values()),
        f"startup_part_worker_seconds_{preset}": first["first_step"] - first["start"],
        f"wall_seconds_{preset}": wall,
    }
    for i, cpu in enumerate(cpu_split(trials, cpus)):
        out[f"cpu{i}_busy_seconds_{preset}"] = cpu["busy"]
        out[f"cpu{i}_idle_tail_seconds_{preset}"] = cpu["idle_tail"]
        out[f"cpu{i}_trials_{preset}"] = float(len(cpu["trials"]))
    return out


def startup_runs(repeats: int, times: list[float] | None = None) -> dict[str, float]:
    """Launch to the first training step of ``python sweeps/capacity.py --preset smoke``, run
    ``repeats`` times one after another (after ``times`` measured already): the median (the
    start-up target is on it) and the range (one run's start-up moves by seconds on a VM)."""
    times = list(times or [])
    for _ in range(repeats):
        _, t_launch, _, trials = run_and_load("capacity.py", "smoke")
        times.append(min(t["first_step"] for t in trials) - t_launch)
    return {
        "startup_median_seconds": statistics.median(times),
        "startup_min_seconds": min(times),
        "startup_max_seconds": max(times),
        "startup_runs": float(len(times)),
    }


def search_ratios(preset: str) -> dict[str, float]:
    """The threshold search's busy fraction: trial seconds / (Tune's wall seconds x CPUs)."""
    cpus = os.cpu_count() or 1
    df, _, wall, _ = run_and_load("threshold.py", preset)
    busy, _, tune_wall = busy_and_span(df)
    return {
        f"search_busy_fraction_{preset}": busy / (tune_wall * cpus),
        f"search_probes_{preset}": float(len(df)),
        f"wall_seconds_threshold_{preset}": wall,
    }


TARGETS = {
    "throughput_ratio": ">= 0.95",
    "eval_share": "<= 0.05",
    "sweep_efficiency": ">= 0.90",
    "search_busy_fraction": ">= 0.85",
    "trials_vs_threads": "> 1 (one CPU per trial)",
    "startup_seconds": "report",
    "startup_median": "< 5 s",
    "step_fused_ratio": "> 1 (fused is the default)",
    "step_flushed_ratio": "> step_fused_ratio (flushing is the default)",
    "step_compiled_life_ratio": "> 1 to turn optim.compile on",
}


def print_steps(results: dict[str, float]) -> None:
    """ms a step of the default's trials, eager, fused, flushed and compiled: the machine's own
    figures, so a reader can scale the README's times (the cost table's cpu-xs step: ~10.5 ms)."""
    for model in DEFAULT_TRIALS:
        keys = ("eager", "fused", "flushed", "compiled")
        r = {k: results[f"step_ms_{k}_{model}"] for k in keys}
        print(
            f"{model} step: eager {r['eager']:.2f} ms, fused {r['fused']:.2f} ms, fused with "
            f"denormals flushed {r['flushed']:.2f} ms, compiled {r['compiled']:.2f} ms after "
            f"{results[f'compile_seconds_{model}']:.1f} s of compile"
        )


def print_startup(results: dict[str, float], preset: str) -> None:
    """The start-up of ``python sweeps/capacity.py --preset PRESET``, in parts."""
    r = {k.removesuffix(f"_{preset}"): v for k, v in results.items()}
    to_step, to_trainable = r["startup_seconds"], r["startup_to_trainable_seconds"]
    print(
        f"start-up, {preset} preset: launch to the first training step {to_step:.2f} s "
        f"(to the first trainable {to_trainable:.2f} s)"
    )
    for part, what in [
        ("imports", "interpreter and the driver's imports (ray, tune), apart"),
        ("ray_init", "ray.init as run_sweep calls it locally, apart"),
        ("tune", "Tune's set-up to the first trainable (the rest of the driver's part)"),
        ("worker", "the trial's worker: torch, model and data, to the first step"),
    ]:
        print(f"  {part:<10}{r[f'startup_part_{part}_seconds']:>7.2f} s  {what}")


def print_cpu_split(results: dict[str, float], preset: str) -> None:
    """How the preset's trial time falls on the CPUs: busy seconds and the idle tail of each."""
    print(f"trial time per CPU, {preset} preset (sum of the trials' time_total_s; idle tail: "
          "from the CPU's last trial to the sweep's last)")  # fmt: skip
    i = 0
    while f"cpu{i}_busy_seconds_{preset}" in results:
        busy, tail = (results[f"cpu{i}_{k}_seconds_{preset}"] for k in ("busy", "idle_tail"))
        n = int(results[f"cpu{i}_trials_{preset}"])
        print(f"  cpu {i}: {n} trial(s), busy {busy:7.1f} s, idle tail {tail:6.1f} s")
        i += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny version (tests use it)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "latest.json"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    steps, repeats = (100, 1) if args.quick else (400, 5)
    # quick: the nano loops (~75 ms a step here) and the per-step timings at 20 steps, enough to
    # measure every ratio once; the cold compile is the same in both (the first step holds it)
    short = 20 if args.quick else steps
    results: dict[str, float] = {}
    for model, n in [("cpu-xxs", steps), ("nano", short)]:
        for k, v in trainer_ratios(model, n, eval_every=250, repeats=repeats).items():
            results[f"{k}_{model}"] = v
    for model in DEFAULT_TRIALS:
        for k, v in step_ratios(model, short, repeats).items():
            results[f"{k}_{model}"] = v
    results.update({f"{k}_nano": v for k, v in trials_vs_threads("nano", short).items()})
    preset = "smoke" if args.quick else "default"
    results.update(sweep_ratios(preset))
    results.update(search_ratios(preset))
    # quick: the smoke sweep above is the one run; else 5 runs of their own
    quick_run = [results["startup_seconds_smoke"]] if args.quick else []
    results.update(startup_runs(0 if args.quick else 5, quick_run))
    print(f"{'ratio':<42}{'value':>10}  target")
    for k, v in results.items():
        target = next((t for prefix, t in TARGETS.items() if k.startswith(prefix)), "")
        if any(
            w in k
            for w in (
                "tokens_per_s",
                "wall_seconds",
                "probes",
                "startup_",
                "cpu0",
                "cpu1",
                "step_ms",
                "compile_seconds",
            )
        ):
            continue  # absolute figures go to the JSON, or to the breakdowns below
        print(f"{k:<42}{v:>10.3f}  {target}")
    print_steps(results)
    print_startup(results, preset)
    print(
        f"start-up, smoke preset, {results['startup_runs']:.0f} run(s): median "
        f"{results['startup_median_seconds']:.2f} s (range {results['startup_min_seconds']:.2f}-"
        f"{results['startup_max_seconds']:.2f} s; target < 5 s)"
    )
    print_cpu_split(results, preset)
    Path(args.out).write_text(json.dumps(results, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
