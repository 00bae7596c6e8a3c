"""The plain-torch loop: memorizes, stops for the right reason, resumes exactly."""

import copy

import pytest
import torch

from memtune.core.config import ModelConfig, OptimConfig
from memtune.core.data import with_bos
from memtune.core.models import build_model
from memtune.core.optim import BatchOrder, PlateauSchedule, lr_at
from memtune.experiments.capacity.config import DataConfig, TrainConfig
from memtune.experiments.capacity.data import make_random_sequences
from memtune.experiments.capacity.loop import TrainState, judge, train, verdict

TINY = TrainConfig(
    model=ModelConfig.preset("nano"),
    data=DataConfig(n_seqs=8, seq_len=32),
    optim=OptimConfig(batch_size=0, lr=1e-2, warmup_steps=20),
    max_steps=1000,
    eval_every=50,
    target_efficiency=0.995,
)


def test_same_seed_same_data_and_different_sizes_are_independent():
    a = make_random_sequences(DataConfig(n_seqs=16), seed=1)
    assert torch.equal(a, make_random_sequences(DataConfig(n_seqs=16), seed=1))
    assert not torch.equal(a, make_random_sequences(DataConfig(n_seqs=16), seed=2))
    assert not torch.equal(a[:8], make_random_sequences(DataConfig(n_seqs=8), seed=1))
    assert a.shape == (16, 64) and set(a.unique().tolist()) <= {0, 1}


def test_bos_shifts_inputs():
    data = torch.tensor([[1, 0, 1]])
    assert with_bos(data, 2).tolist() == [[2, 1, 0]]


@pytest.mark.parametrize("pos_emb", ["learned", "rope"])
def test_model_is_causal(pos_emb):
    m = build_model(ModelConfig(d_model=16, n_head=2, n_layer=1, pos_emb=pos_emb), 2, 16).eval()
    x = torch.randint(0, 3, (2, 16))
    y = x.clone()
    y[:, 10:] = 2 - y[:, 10:]
    with torch.no_grad():
        out_x, out_y = m(x), m(y)
    torch.testing.assert_close(out_x[:, :10], out_y[:, :10])
    assert not torch.allclose(out_x[:, 10:], out_y[:, 10:])  # later positions do see the change


def test_tiny_model_memorizes_8_sequences():
    records = []
    final = train(TINY, report=lambda m, s: records.append(m))
    assert final["stop_reason"] == "converged"
    assert final["efficiency"] >= 0.95
    assert final["seqs_memorized"] == 8
    assert final["bits_achievable"] == 8 * (32 - 3)
    assert records[-1] == final
    assert [r["step"] for r in records] == list(range(50, final["step"] + 1, 50))


def test_same_config_gives_the_same_metrics():
    cfg = TrainConfig(**{**TINY.__dict__, "max_steps": 100})
    a, b = train(cfg), train(cfg)
    for timing in ["train_seconds", "eval_seconds"]:
        del a[timing], b[timing]
    assert a == b


def test_resume_from_a_checkpoint_matches_an_uninterrupted_run():
    cfg = TrainConfig(
        model=ModelConfig.preset("cpu-xxs"),
        data=DataConfig(n_seqs=40, seq_len=16),
        optim=OptimConfig(batch_size=16),  # minibatches: the batch order must resume too
        max_steps=300,
        eval_every=50,
        checkpoint_every=100,
    )
    saved = {}

    def keep(metrics, state):
        if state is not None:
            saved[state.step] = copy.deepcopy(state)

    full = train(cfg, report=keep)
    assert sorted(saved) == [100, 200, 300]  # the last one is the final state
    assert saved[300].stop_reason == "max_steps" and not saved[200].stop_reason
    resumed_records = []
    resumed = train(cfg, report=lambda m, s: resumed_records.append(m), resume=saved[100])
    assert resumed_records[0]["step"] == 150
    for k in ["bits_memorized", "bits_memorized_best", "step", "tokens_seen", "train_loss"]:
        assert resumed[k] == full[k], k
    again = []
    assert train(cfg, report=lambda m, s: again.append(m), resume=saved[300]) == full
    assert again == [full]  # a finished run restored by Tune re-reports, it does not train


def test_state_round_trips_through_a_directory(tmp_path):
    st = TrainState(step=7, best_bits=3.0, model={"w": torch.ones(2)})
    st.save(str(tmp_path))
    back = TrainState.load(str(tmp_path))
    assert back.step == 7 and torch.equal(back.model["w"], torch.ones(2))


def test_plateau_stops_a_model_that_cannot_learn():
    cfg = TrainConfig(
        model=ModelConfig.preset("cpu-xxs"),
        data=DataConfig(n_seqs=64, seq_len=16),
        optim=OptimConfig(lr=1e-9, warmup_steps=0),
        max_steps=1000,
        eval_every=20,
        patience=100,
    )
    final = train(cfg)
    assert final["stop_reason"] == "plateau"
    assert final["step"] < 1000


def test_patience_does_not_stop_a_run_that_keeps_improving():
    # 256 sequences at lr_scale 0.3: still gaining at every window of 100 steps on the CPUs
    # seen here (64 at 0.6 plateaued at step 100 on one machine's kernels and stopped at 200)
    cfg = TrainConfig(
        model=ModelConfig.preset("cpu-xxs"),
        data=DataConfig(n_seqs=256, seq_len=16),
        optim=OptimConfig(lr_scale=0.3, warmup_steps=0),
        max_steps=400,
        eval_every=20,
        patience=100,
        min_improvement=0.0,
    )
    records = []
    final = train(cfg, report=lambda m, s: records.append(m))
    bests = [r["bits_memorized_best"] for r in records]
    assert all(b > a for a, b in zip(bests[:-5], bests[5:], strict=True))  # still improving
    assert final["stop_reason"] == "max_steps" and final["step"] == 400


def test_lr_schedule_warms_up_then_decays_with_restarts():
    o = OptimConfig(warmup_steps=10, n_cycles=2, min_lr_frac=0.1)
    assert lr_at(0, 1.0, o, 110) == pytest.approx(0.1)
    assert lr_at(9, 1.0, o, 110) == pytest.approx(1.0)
    assert lr_at(10, 1.0, o, 110) == pytest.approx(1.0)
    assert lr_at(59, 1.0, o, 110) == pytest.approx(0.1, abs=0.01)
    assert lr_at(60, 1.0, o, 110) == pytest.approx(1.0)  # hard restart


def test_batch_order_is_a_permutation_per_epoch():
    order = BatchOrder(10, 5, seed=0)
    epoch = torch.cat([order(0), order(1)])
    assert sorted(epoch.tolist()) == list(range(10))
    assert BatchOrder(10, 0, seed=0)(3) is None


PLATEAU = OptimConfig(
    warmup_steps=10, schedule="plateau", stall_steps=200, stall_tol=0.02, decay_steps=50,
    min_lr_frac=0.1,
)  # fmt: skip


def test_plateau_schedule_holds_the_peak_until_progress_stalls_then_decays():
    s = PlateauSchedule()
    assert s.lr(0, 1.0, PLATEAU, 10_000) == pytest.approx(0.1)  # warmup
    for step, value in [(100, 10.0), (200, 20.0), (300, 20.1), (350, 20.3)]:
        s.observe(step, value, PLATEAU)
        assert s.decay_start == -1 and s.lr(step, 1.0, PLATEAU, 10_000) == 1.0
    s.observe(400, 20.2, PLATEAU)  # < 2% over 200 steps >= stall_steps: decay from here
    assert s.decay_start == 400
    assert s.lr(400, 1.0, PLATEAU, 10_000) == pytest.approx(1.0)
    assert s.lr(425, 1.0, PLATEAU, 10_000) == pytest.approx(0.55)
    assert s.lr(450, 1.0, PLATEAU, 10_000) == pytest.approx(0.1)
    assert not s.annealed(449, PLATEAU, 10_000) and s.annealed(450, PLATEAU, 10_000)
    s.observe(500, 99.0, PLATEAU)  # a later jump never restarts the peak
    assert s.lr(600, 1.0, PLATEAU, 10_000) == pytest.approx(0.1)


def test_cosine_schedule_is_lr_at_and_anneals_only_near_its_floor():
    o = OptimConfig(warmup_steps=10, min_lr_frac=0.1)
    s = PlateauSchedule()
    for step in [0, 5, 50, 100, 109]:
        assert s.lr(step, 1.0, o, 110) == lr_at(step, 1.0, o, 110)
    s.observe(100, 1.0, o)
    assert s.decay_start == -1  # a cosine never triggers a decay
    assert not s.annealed(60, o, 110) and s.annealed(105, o, 110)


def test_judge_needs_a_flat_window_at_an_annealed_lr():
    rising = [(s, 100.0 + s, True) for s in range(0, 1001, 100)]
    assert not judge(rising, 500, 0.01)["saturated"]
    assert judge(rising, 500, 0.01)["recent_gain"] == pytest.approx(500 / 600)
    flat_at_peak = [(s, 100.0, False) for s in range(0, 1001, 100)]
    assert not judge(flat_at_peak, 500, 0.01)["saturated"]  # the peak's plateau is no verdict
    flat = [(s, 100.0, s >= 400) for s in range(0, 1001, 100)]
    assert judge(flat, 500, 0.01)["saturated"]
    assert not judge(flat[:3], 500, 0.01)["saturated"]  # shorter than the window
    # creeping at a low lr: within 1% over 2,000 steps, not over the last third of the run
    creep = [(s, 1000.0 + 0.004 * s, s >= 3000) for s in range(0, 12_001, 250)]
    assert judge(creep, 2000, 0.01)["saturated"]
    assert not judge(creep, 2000, 0.01, fraction=1 / 3)["saturated"]
    assert judge(creep, 2000, 0.01, fraction=1 / 3)["recent_gain"] == pytest.approx(16 / 1032)
    assert verdict("converged", False) == "memorized"
    assert verdict("saturated", True) == "saturated"
    assert verdict("max_steps", False) == "budget" and verdict("plateau", False) == "budget"
    assert verdict("", False) == ""


def test_knee_multiple_places_n_at_the_models_knee():
    cfg = TrainConfig(model=ModelConfig.preset("cpu-xxs"), knee_multiple=2.0, knee_bpp=2.0)
    assert cfg.n_seqs_for(1440) == round(2 * 2 * 1440 / 64)
    assert TrainConfig(data=DataConfig(n_seqs=7)).n_seqs_for(1440) == 7


def test_plateau_run_decays_after_a_stall_and_ends_with_a_verdict():
    cfg = TrainConfig(
        model=ModelConfig.preset("cpu-xxs"),
        data=DataConfig(seq_len=16),
        optim=OptimConfig(
            lr_scale=0.6, warmup_steps=0, batch_size=0, schedule="plateau", stall_steps=100,
            decay_steps=100, min_lr_frac=0.05,
        ),
        max_steps=3000, eval_every=25, patience=3000, saturation_window=100,
        knee_multiple=0.5, target_efficiency=0.99,
    )  # fmt: skip
    records = []
    final = train(cfg, report=lambda m, s: records.append(m))
    assert final["n_seqs"] == round(0.5 * 2 * final["n_params"] / 16)
    assert final["decay_start"] > 0 and final["verdict"] in {"saturated", "memorized"}
    assert final["step"] < 3000  # stopped by its verdict, not the cap
    assert all(r["verdict"] == "" for r in records[:-1])
    peak = cfg.optim.peak_lr(cfg.model.d_model)
    assert all(r["lr"] == peak for r in records if r["step"] <= final["decay_start"])


def test_plateau_schedule_resumes_exactly():
    cfg = TrainConfig(
        model=ModelConfig.preset("cpu-xxs"),
        data=DataConfig(n_seqs=40, seq_len=16),
        optim=OptimConfig(
            batch_size=16, schedule="plateau", stall_steps=50, stall_tol=0.5, decay_steps=100
        ),
        max_steps=300, eval_every=50, checkpoint_every=100,
    )  # fmt: skip
    saved = {}

    def keep(metrics, state):
        if state is not None:
            saved[state.step] = copy.deepcopy(state)

    full = train(cfg, report=keep)
    assert 0 < full["decay_start"] <= 200
    resumed = train(cfg, resume=saved[200] if full["decay_start"] <= 100 else saved[100])
    for k in ["bits_memorized", "lr", "decay_start", "verdict", "train_loss"]:
        assert resumed[k] == full[k], k
