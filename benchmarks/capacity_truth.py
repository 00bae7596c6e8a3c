"""Capacity ground truth: one long run of one model, a schedule fixed in advance, and its check.

The referee that the capacity protocol (sweeps/capacity.py) is judged against. It does not use
the protocol's plateau trigger or verdicts, so what it measures does not depend on the code it
judges: warmup (100 steps), the peak lr until half the steps, a cosine down to 5% of the peak by
two thirds, then a hold at 5% for the last third. Converged when memorized bits change by less
than 1% over that last third (issue 13). One evaluation every 1,000 steps, one JSON line each.

    python benchmarks/capacity_truth.py cpu-xxs 256 200000 gt_xxs.json   # ~45 min, 1 core
    python benchmarks/capacity_truth.py cpu-s 512 150000 gt_s.json        # ~65 min, 1 core
    python benchmarks/capacity_truth.py --judge gt_xxs.json gt_s.json     # the convergence check
    python benchmarks/capacity_truth.py cpu-xxs 99 48000 long.json --seed 1 --every 500

Seed 0, batch 128, AdamW (weight decay 0.01, betas 0.9/0.99, clip 1.0), peak lr_scale/d_model.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CONVERGED_CHANGE = 0.01  # the ground truth's own rule: < 1% change over the last third
# the run's figure is the trials' estimator (memtune.core.progress.level): the mean of memorized
# bits over the window its own rule judges, here the last third (a trial's is its last quarter)
LEVEL_FRACTION = 1 / 3


def lr_at(step: int, steps: int, peak: float, warmup: int = 100, low_frac: float = 0.05) -> float:
    """Warmup, peak until steps/2, cosine to low_frac * peak by 2*steps/3, then hold."""
    stable_end, decay_end, low = int(0.5 * steps), int(2 * steps / 3), low_frac * peak
    if step < warmup:
        return peak * (step + 1) / warmup
    if step < stable_end:
        return peak
    if step < decay_end:
        t = (step - stable_end) / (decay_end - stable_end)
        return low + 0.5 * (peak - low) * (1 + math.cos(math.pi * t))
    return low


def run(
    name: str, n_seqs: int, steps: int, out: str, lr_scale: float = 0.6, seed: int = 0,
    every: int = 1000,
) -> None:  # fmt: skip
    import torch

    from memtune.core.config import ModelConfig, OptimConfig
    from memtune.core.data import with_bos
    from memtune.core.metrics import (
        memorization_summary,
        sequence_code_lengths,
        sequence_floor_bits,
    )
    from memtune.core.models import build_model, count_params
    from memtune.core.optim import BatchOrder, make_optimizer, optimizer_step
    from memtune.experiments.capacity.config import DataConfig
    from memtune.experiments.capacity.data import make_random_sequences

    torch.set_num_threads(1)
    mcfg, dcfg = ModelConfig.preset(name), DataConfig(n_seqs=n_seqs)
    ocfg = OptimConfig(lr_scale=lr_scale, batch_size=128, weight_decay=0.01)
    torch.manual_seed(seed)
    data = make_random_sequences(dcfg, seed)
    model = build_model(mcfg, vocab_size=dcfg.vocab_size, block_size=dcfg.seq_len)
    floor, n_params = sequence_floor_bits(data), count_params(model)
    inputs = with_bos(data, model.bos_id)
    peak = ocfg.peak_lr(mcfg.d_model)
    opt = make_optimizer(model, ocfg, peak)
    batches = BatchOrder(n_seqs, ocfg.batch_size, seed)
    log: list[dict] = []
    t0 = time.time()
    for s in range(steps):
        idx = batches(s)
        x, y = (inputs, data) if idx is None else (inputs[idx], data[idx])
        optimizer_step(opt, model, model(x), y, lr_at(s, steps, peak), ocfg.grad_clip)
        if (s + 1) % every == 0 or s + 1 == steps:
            bits = sequence_code_lengths(model, inputs, data).numpy()
            summ = memorization_summary(bits, floor, dcfg.seq_len, dcfg.vocab_size, 1.0)
            rec = {
                "step": s + 1, "seconds": time.time() - t0, "lr": lr_at(s, steps, peak),
                "bits": summ["bits_memorized"], "eff": summ["efficiency"], "n_params": n_params,
                "bits_per_param": summ["bits_memorized"] / n_params,
            }  # fmt: skip
            log.append(rec)
            Path(out).write_text(
                json.dumps(
                    {
                        "model": name,
                        "N": n_seqs,
                        "steps": steps,
                        "lr_scale": lr_scale,
                        "seed": seed,
                        "log": log,
                    }
                )  # fmt: skip
            )
            print(json.dumps(rec), flush=True)


def judge(path: str) -> dict:
    """The convergence check of one run: memorized bits over its last third, and its figure.

    Reports the level (``level_bits_per_param``: the mean of memorized bits over the last
    third, the window this run's rule judges; the same estimator as a trial's
    ``bits_memorized_level`` over its own judged window, so the two compare), the bits/param
    at the end (one evaluation: it swings +-2% at the floor lr), the relative change between
    the first evaluation of the last third and the end, and the range (max - min) / end over
    the last third.
    """
    from memtune.core.progress import level

    rec = json.loads(Path(path).read_text())
    log, steps = rec["log"], rec["steps"]
    last = [r for r in log if r["step"] >= 2 * steps / 3]
    end = log[-1]
    done = end["step"] == steps
    bits = [r["bits"] for r in last]
    change = (bits[-1] - bits[0]) / bits[-1] if last else float("nan")
    spread = (max(bits) - min(bits)) / bits[-1] if last else float("nan")
    return {
        "model": rec["model"], "seed": rec.get("seed", 0), "N": rec["N"],
        "steps_done": end["step"], "steps": steps,
        "n_params": end["n_params"], "bits": end["bits"], "bits_per_param": end["bits_per_param"],
        "level_bits_per_param": level(
            [(r["step"], r["bits"]) for r in log], int(LEVEL_FRACTION * end["step"])
        ) / end["n_params"],
        "efficiency": end["eff"], "last_third_change": change, "last_third_spread": spread,
        "converged": bool(done and last and abs(change) < CONVERGED_CHANGE),
        "minutes": end["seconds"] / 60,
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--judge", nargs="+", metavar="RUN.json", help="check finished runs")
    p.add_argument("args", nargs="*", help="MODEL N STEPS OUT.json [LR_SCALE]")
    p.add_argument("--seed", type=int, default=0, help="draws the data and the initialisation")
    p.add_argument("--every", type=int, default=1000, help="steps between evaluations")
    a = p.parse_args(argv)
    if a.judge:
        for path in a.judge:
            j = judge(path)
            print(
                f"{j['model']:<8} seed {j['seed']} N={j['N']:<4} "
                f"{j['steps_done']:>7,}/{j['steps']:,} steps "
                f"({j['minutes']:.0f} min)  level {j['level_bits_per_param']:.3f} bits/param "
                f"(last evaluation {j['bits_per_param']:.3f}, efficiency {j['efficiency']:.2f})"
                f"  last third: change "
                f"{j['last_third_change']:+.2%}, range {j['last_third_spread']:.2%}  -> "
                f"{'converged' if j['converged'] else 'NOT converged'}"
            )
        return 0
    if len(a.args) not in (4, 5):
        p.error("give MODEL N STEPS OUT.json [LR_SCALE], or --judge RUN.json ...")
    name, n, steps, out = a.args[0], int(a.args[1]), int(a.args[2]), a.args[3]
    run(name, n, steps, out, *(float(x) for x in a.args[4:]), seed=a.seed, every=a.every)
    return 0


if __name__ == "__main__":
    sys.exit(main())
