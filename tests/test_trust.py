"""Issue 14: numbers a researcher can trust (sums, checkpoints, trial status, grouping, fits)."""

import math

import numpy as np

from memtune.core.metrics import memorization_summary


def test_code_lengths_are_summed_in_float64_at_the_paper_preset_scale():
    # 2^19 sequences of 64 tokens over 2^11 symbols: H(X) ~ 3.7e8 bits, where float32 steps by
    # 32 bits; a float32 sum would be off by bits, a float64 sum is exact to well under one.
    n, T, V = 2**19, 64, 2048
    rng = np.random.default_rng(0)
    code_bits = (rng.random(n) * 700).astype(np.float32)  # what the loop hands over
    floor_bits = np.full(n, 19.0)
    s = memorization_summary(code_bits, floor_bits, T, V, slack_bits=1.0)
    exact = n * T * math.log2(V) - math.fsum(code_bits.astype(np.float64))
    assert abs(s["bits_memorized"] - exact) < 1e-3


def test_capacity_checkpoints_fire_when_checkpoint_every_is_not_a_multiple_of_eval_every():
    from memtune.core.config import ModelConfig, OptimConfig
    from memtune.experiments.capacity.config import DataConfig, TrainConfig
    from memtune.experiments.capacity.loop import train

    cfg = TrainConfig(
        model=ModelConfig.preset("nano"),
        data=DataConfig(n_seqs=8, seq_len=16),
        optim=OptimConfig(batch_size=0, lr=1e-3),
        max_steps=100,
        eval_every=20,
        checkpoint_every=30,  # 30 is no multiple of 20: step % 30 == 0 at an evaluation is 60
        target_efficiency=1.0,
        target_excess_bits=0.0,
    )
    saved = []
    train(cfg, report=lambda m, state: saved.append(m["step"]) if state is not None else None)
    assert saved == [40, 80, 100]  # the first evaluation at least 30 steps after the last one
