"""``--dry-run``: what a sweep would run, and about how long it would take, without Ray.

For every trial: its name (the values that tell it apart), N, the step budget, the estimated
CPU time (steps x ``memtune.core.cost.step_ms``, plus a compiled trial's compile time), and the
CPU it lands on when trials start in order on the free CPUs, as Tune starts them; then the
expected wall time on the CPUs given (``--num-cpus``, else this machine's). Ray's start-up
(~10 s), evaluations and checkpoints are not in the estimate, and a trial that stops on its
verdict ends sooner.

    python sweeps/capacity.py --dry-run --set model.name=[cpu-xxs,cpu-m]
"""

from __future__ import annotations

import heapq
import inspect
import os
from typing import Any

from memtune.core.config import ModelConfig
from memtune.core.cost import COMPILE_SECONDS, batch_used, step_ms
from memtune.core.param_counts import gpt_param_count
from memtune.core.store import flatten
from memtune.tune.grid import Sweep, point_label, shown_paths


def compiled(cfg: Any) -> bool:
    """Whether a trial config compiles its step (``optim.compile``; False without an optimizer)."""
    return bool(getattr(getattr(cfg, "optim", None), "compile", False))


def estimate(cfg: Any) -> tuple[int | None, int | None, float | None]:
    """(N, steps, ms a step) of a trial config, each None where the config does not say
    (an experiment without a GPT, or whose N needs its data drawn)."""
    steps = getattr(cfg, "max_steps", None)
    model, data = getattr(cfg, "model", None), getattr(cfg, "data", None)
    if not isinstance(model, ModelConfig) or data is None or not hasattr(data, "seq_len"):
        return getattr(data, "n_seqs", None), steps, None
    vocab = getattr(data, "vocab_size", 2)
    n_params = gpt_param_count(model, vocab, data.seq_len)
    n = getattr(data, "n_seqs", None)
    n_seqs_for = getattr(cfg, "n_seqs_for", None)
    if n_seqs_for is not None and len(inspect.signature(n_seqs_for).parameters) == 1:
        n = n_seqs_for(n_params)
    elif n_seqs_for is not None and getattr(cfg, "capacity_multiple", 0):
        return None, steps, None  # N follows the source's entropy: known once data is drawn
    optim = getattr(cfg, "optim", None)
    if n is None or optim is None:
        return n, steps, None
    batch = batch_used(optim.batch_size, n)
    ms = step_ms(model, batch, data.seq_len, vocab, optim.dtype, compiled(cfg))
    return n, steps, ms


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds < 3600 else f"{seconds / 3600:.1f} h"


def _count(per: list[int]) -> str:
    return str(per[0]) if min(per) == max(per) else f"{min(per)}-{max(per)}"


def varying(configs: list[dict[str, Any]]) -> list[str]:
    """The dotted config fields whose values differ between the trials."""
    flat = [flatten(c) for c in configs]
    keys = sorted({k for f in flat for k in f})
    return [k for k in keys if len({repr(f.get(k)) for f in flat}) > 1]


def _slots(cpus: float, args: Any) -> int:
    """Trials at once on ``cpus`` CPUs: one per ``--cpus-per-trial``, at most --max-concurrent."""
    slots = max(1, int(cpus // args.cpus_per_trial))
    return min(slots, args.max_concurrent) if args.max_concurrent else slots


def _trial_seconds(sweep: Sweep, configs: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """(label, N, steps, ms a step, CPU seconds or None) of every trial, in Tune's order."""
    cls, paths = type(sweep.base), shown_paths(sweep)
    rows = []
    for c in configs:
        cfg = cls.from_dict(c)
        n, steps, ms = estimate(cfg)
        seconds = steps * ms / 1000 + compiled(cfg) * COMPILE_SECONDS if steps and ms else None
        rows.append((point_label(c, paths) or "(the preset)", n, steps, ms, seconds))
    return rows


def _place(times: list[float | None], slots: int) -> tuple[list[int], float]:
    """The CPU slot each trial lands on when Tune starts them in order on the free slots, and
    the wall time when the last one ends."""
    free = [(0.0, i) for i in range(slots)]  # (busy until, CPU slot)
    on: list[int] = []
    for seconds in times:
        until, slot = heapq.heappop(free)
        on.append(slot)
        heapq.heappush(free, (until + (seconds or 0.0), slot))
    return on, max(until for until, _ in free)


def expected_wall(
    sweep: Sweep, configs: list[dict[str, Any]], cpus: float, args: Any
) -> tuple[float, float, int] | None:
    """(wall seconds, CPU seconds, trials at once) the sweep is expected to take on ``cpus``
    CPUs, or None when it cannot be estimated (a search, or a trial the cost table does not
    cover). The estimate the sweep prints before it starts, and the dry run's last line."""
    if sweep.search is not None:
        return None
    times = [r[4] for r in _trial_seconds(sweep, configs)]
    if not times or any(t is None for t in times):
        return None
    slots = _slots(cpus, args)
    _, wall = _place(times, slots)
    return wall, sum(times), slots  # type: ignore[arg-type]


def start_note(sweep: Sweep, configs: list[dict[str, Any]], cpus: float, args: Any) -> str:
    """The line a sweep prints before its first trial: when it should end, and how to tell."""
    est = expected_wall(sweep, configs, cpus, args)
    if est is None:
        return (
            "no wall time estimate for this sweep; the progress table shows each trial's share "
            "of its budget and the minutes left at its own pace"
        )
    wall, _, slots = est
    return (
        f"expected wall time {_minutes(wall)} on {cpus:g} CPUs, {slots} trial(s) at once "
        "(from the per-step cost table, measured on a 2-core machine; a slower machine takes "
        "longer, a trial that stops on its verdict ends sooner). The progress table shows each "
        "trial's share of its budget and the minutes left at its own pace."
    )


def show_plan(sweep: Sweep, configs: list[dict[str, Any]], path: str, args: Any) -> str:
    """The dry run's printout (see the module docstring)."""
    cpus = args.num_cpus or os.cpu_count() or 1
    slots = _slots(cpus, args)
    where = f"on {cpus:g} of these CPUs"
    if args.address and not args.num_cpus:
        where = f"assuming {cpus:g} CPUs (this machine's; --num-cpus N for the cluster's)"
    shown = f"{args.storage_path.rstrip('/')}/{path.rstrip('/').rsplit('/', 1)[-1]}"
    lines = [f"[memtune] dry run: {len(configs)} {'groups' if sweep.search else 'trials'} "
             f"-> {shown} (nothing started)"]  # fmt: skip
    fields = varying(configs)
    lines.append("  fields that vary: " + (", ".join(fields) if fields else "none (one trial)"))
    if sweep.search is not None:
        lines.append(f"  the searcher varies {sweep.searched} and picks the trials; each group:")
    rows = _trial_seconds(sweep, configs)
    times = [r[4] for r in rows]
    on, wall = _place(times, slots)
    width = max(len(r[0]) for r in rows)
    lines.append(f"  {'trial':<{width}}  {'N':>7}  {'steps':>9}  {'ms/step':>7}  "
                 f"{'CPU time':>9}  slot")  # fmt: skip
    for (name, n, steps, ms, seconds), slot in zip(rows, on, strict=True):
        lines.append(
            f"  {name:<{width}}  {n if n is not None else '-':>7}  "
            f"{f'{steps:,}' if steps else '-':>9}  {f'{ms:.1f}' if ms else '-':>7}  "
            f"{_minutes(seconds) if seconds else '-':>9}  {slot + 1}"
        )
    if sweep.search is not None or any(t is None for t in times):
        lines.append(
            f"  no time estimate: {'a search runs as many trials as it needs' if sweep.search else 'the cost table covers GPT trials with a known N only'}"  # noqa: E501
        )
        return "\n".join(lines)
    total = sum(times)  # type: ignore[arg-type]
    per = [on.count(s) for s in range(slots)]
    lines.append(
        f"  CPU time {_minutes(total)} in all; {where}, "
        f"{args.cpus_per_trial:g} per trial: {slots} trial(s) at once, "
        f"{_count(per)} trial(s) per CPU slot, expected wall time {_minutes(wall)} "
        f"(efficiency {total / (wall * slots):.0%}; Ray's start-up not included, a trial that "
        "stops on its verdict ends sooner)"
    )
    return "\n".join(lines)
