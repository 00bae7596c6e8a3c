"""CPU time of one training step in closed form: the per-step cost table behind step budgets
and the dry run's time estimates.

A step of a GPT on B sequences of T tokens pays a fixed part (Python, AdamW over every tensor,
the kernels' launches: what dominates these tiny models) and a part in proportion to its
arithmetic, B T tokens times (the parameters each token goes through + the attention over T
positions in each layer):

    ms(step) = (a + b x B T (P + n_layer T d)) x DTYPE_FACTOR[dtype]

``a`` and ``b`` are solved from the two measured trials in ``MEASURED`` (the capacity default's
pair, one process on one core of this machine), so the rule reproduces those two exactly and
extrapolates to other models, batches and sequence lengths: an estimate for planning, not a
measurement. No torch is imported (parameter counts are closed form).

    python -c "from memtune.core.cost import step_ms; from memtune.core.config import \\
        ModelConfig; print(step_ms(ModelConfig.preset('cpu-m'), 128, 64, 2))"
"""

from __future__ import annotations

from memtune.core.config import ModelConfig
from memtune.core.param_counts import gpt_param_count

# (model preset, batch B, T, V) -> ms a step, measured one process at a time on this machine
# (docs/performance.md, "The default preset and the 2 CPUs": 1,332-step runs of the exact
# trial configs, cpu-xxs 7.03 and 7.10 ms at N = B = 99, cpu-xs 10.39 and 11.10 ms at N = 191,
# B = 128). Held at 7.0 and 10.5 ms: the 2:3 the capacity default's budgets (72,000 and 48,000
# steps) were set by.
MEASURED: tuple[tuple[tuple[str, int, int, int], float], ...] = (
    (("cpu-xxs", 99, 64, 2), 7.0),
    (("cpu-xs", 128, 64, 2), 10.5),
)
# pure bf16 costs 3.8x fp32 a step on this CPU (23.8 vs 6.3 ms, cpu-xxs; sweeps/capacity.py);
# mixed (CPU autocast to bf16) 4.25x (81.3 vs 19.1 ms, the same 400 steps back to back on a
# busy machine, 2026-12-03)
DTYPE_FACTOR = {"fp32": 1.0, "mixed": 4.25, "bf16": 3.8}
# optim.compile: a compiled step's ms over the table's (eager) step, and the seconds a trial
# spends compiling (the forward, the optimizer step, the evaluation's forward). 0.76 is the mean
# of compiled / foreach eager in benchmarks/run.py's step_ratios on 3 December at lr 1e-3 (0.79
# cpu-xxs, 0.73 cpu-xs); timed later at the trials' peak lr, denormals flushed, it was 0.85 and
# 0.79. 30 s is the 60,000-step study's first compile; the default's compiled trials at
# 0c85937 spent 37-39 s (train and evaluation graphs together). Estimates, both on the low side
COMPILED_FACTOR = 0.76
COMPILE_SECONDS = 30.0


def step_work(model: ModelConfig, batch: int, seq_len: int, vocab_size: int) -> float:
    """B T (P + n_layer T d): multiply-adds of a step, up to a constant factor."""
    n_params = gpt_param_count(model, vocab_size, seq_len)
    return batch * seq_len * (n_params + model.n_layer * seq_len * model.d_model)


def _calibration() -> tuple[float, float]:
    (m1, b1, t1, v1), ms1 = MEASURED[0]
    (m2, b2, t2, v2), ms2 = MEASURED[1]
    w1 = step_work(ModelConfig.preset(m1), b1, t1, v1)
    w2 = step_work(ModelConfig.preset(m2), b2, t2, v2)
    slope = (ms2 - ms1) / (w2 - w1)
    return ms1 - slope * w1, slope


FIXED_MS, MS_PER_WORK = _calibration()


def step_ms(
    model: ModelConfig, batch: int, seq_len: int, vocab_size: int, dtype: str = "fp32",
    compiled: bool = False,
) -> float:  # fmt: skip
    """Estimated CPU milliseconds of one training step (see the module docstring).

    Args:
        model: the GPT.
        batch: sequences per step B (the batch actually used: min(batch_size, N)).
        seq_len: tokens per sequence T.
        vocab_size: V.
        dtype: "fp32", "mixed" or "bf16".
        compiled: the step torch.compile'd (``optim.compile``); its compile time is a trial's
            once, not a step's (``COMPILE_SECONDS``).
    """
    work = step_work(model, batch, seq_len, vocab_size)
    factor = DTYPE_FACTOR.get(dtype, 1.0) * (COMPILED_FACTOR if compiled else 1.0)
    return (FIXED_MS + MS_PER_WORK * work) * factor


def batch_used(batch_size: int, n_seqs: int) -> int:
    """The batch a step trains on: ``batch_size`` capped at N, and N for ``batch_size=0``."""
    return n_seqs if batch_size == 0 else min(batch_size, n_seqs)
