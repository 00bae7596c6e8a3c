"""Mixed precision against pure bf16: what a parameter stores, and updates that round away."""

import math

import pytest
import torch

from memtune.core.config import ModelConfig, OptimConfig
from memtune.core.precision import compute_context, snapshot, unchanged_fraction
from memtune.experiments.capacity.config import DataConfig, TrainConfig
from memtune.experiments.capacity.loop import train


def _cfg(dtype: str) -> TrainConfig:
    return TrainConfig(
        model=ModelConfig.preset("cpu-xxs"), data=DataConfig(n_seqs=8, seq_len=16),
        optim=OptimConfig(dtype=dtype, batch_size=0, lr_scale=0.6), max_steps=60,
        eval_every=30, checkpoint_every=30,
    )  # fmt: skip


def _train_keeping_state(cfg: TrainConfig):
    """(the run's result, the last checkpointed state)."""
    states = []
    out = train(cfg, report=lambda m, s: states.append(s))
    return out, [s for s in states if s is not None][-1]


def _stored_dtypes(state) -> tuple[set, set]:
    """(the dtypes of the floating parameters, of AdamW's two moments) in a training state."""
    moments = [t for st in state.optimizer["state"].values() for k, t in st.items()
               if k in ("exp_avg", "exp_avg_sq")]  # fmt: skip
    assert len(moments) == 2 * len(state.optimizer["state"]) > 0
    params = {v.dtype for v in state.model.values() if v.is_floating_point()}
    return params, {t.dtype for t in moments}


def test_unchanged_fraction_counts_entries_a_step_left_alone():
    a, b = torch.zeros(3), torch.ones(2)
    before = snapshot([a, b])
    a[0] = 1.0  # one of five entries moved
    assert unchanged_fraction(before, [a, b]) == pytest.approx(4 / 5)
    b += 1e-3
    assert unchanged_fraction(before, [a, b]) == pytest.approx(2 / 5)


def test_a_small_update_rounds_away_in_bf16_and_not_in_fp32():
    # bf16 keeps 8 significant bits: at 1.0 its step is 2^-7, so +1e-3 is lost; fp32 keeps it
    w32, w16 = torch.ones(4), torch.ones(4, dtype=torch.bfloat16)
    b32, b16 = snapshot([w32]), snapshot([w16])
    w32 += 1e-3
    w16 += 1e-3
    assert unchanged_fraction(b32, [w32]) == 0.0
    assert unchanged_fraction(b16, [w16]) == 1.0


def test_mixed_computes_in_bf16_only_inside_its_context():
    lin = torch.nn.Linear(4, 4)
    x = torch.randn(2, 4)
    with compute_context("mixed"):
        assert lin(x).dtype == torch.bfloat16
    for dtype in ("fp32", "bf16"):
        with compute_context(dtype):
            assert lin(x).dtype == torch.float32  # no autocast: the parameters' own dtype
    assert lin(x).dtype == torch.float32


@pytest.mark.trains
def test_mixed_keeps_fp32_master_weights_and_moments():
    out, state = _train_keeping_state(_cfg("mixed"))
    assert _stored_dtypes(state) == ({torch.float32}, {torch.float32})
    # fp32 master weights take every update: AdamW moves every entry
    assert out["frac_unchanged"] == 0.0
    # and mixed is not fp32 under another name: bf16 compute changes where the run ends
    fp32 = train(_cfg("fp32"))
    assert math.isfinite(out["bits_memorized"])
    assert fp32["bits_memorized"] != out["bits_memorized"]
    assert fp32["frac_unchanged"] == 0.0


@pytest.mark.trains
def test_pure_bf16_stores_bf16_and_reports_the_updates_that_round_away():
    out, state = _train_keeping_state(_cfg("bf16"))
    # pure bf16, not mixed precision: the parameters and AdamW's moments are bf16 themselves,
    # with no fp32 master copy
    assert _stored_dtypes(state) == ({torch.bfloat16}, {torch.bfloat16})
    # 4% of the entries stood still in the last step here (fp32 and mixed: exactly 0)
    assert 0.01 < out["frac_unchanged"] < 1.0
