"""Threshold probes without Ray: config, mappings, budget models, and the training loop."""

import pytest
import torch

from memtune.core.config import ConfigError, OptimConfig, replace
from memtune.core.models import count_params
from memtune.experiments.threshold.config import (
    BudgetModelConfig,
    MappingConfig,
    ThresholdConfig,
    budget_param_count,
    width_for_budget,
)
from memtune.experiments.threshold.data import make_bijective_mapping
from memtune.experiments.threshold.loop import train_threshold
from memtune.experiments.threshold.models import build_budget_model


def test_round_trip_and_old_results_with_missing_fields_load():
    cfg = ThresholdConfig(model=BudgetModelConfig(arch="transformer", budget=20_000, n_head=4),
                          data=MappingConfig(n_pairs=33), seed=2)  # fmt: skip
    assert ThresholdConfig.from_dict(cfg.to_dict()) == cfg
    assert ThresholdConfig.from_dict({"model": {"budget": 5000}}).model.budget == 5000


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda: BudgetModelConfig(arch="rnn"), ["model.arch", "mlp", "transformer", "'rnn'"]),
        (lambda: BudgetModelConfig(n_head=2), ["model.n_head", "transformers only"]),
        (lambda: BudgetModelConfig(budget=0), ["model.budget", ">= 1"]),
        (lambda: ThresholdConfig(model=BudgetModelConfig(budget=200)), ["model.budget 200",
                                                                        "too small"]),
        (lambda: MappingConfig(n_pairs=9, seq_len=3, vocab_size=2), ["data.n_pairs (9)", "2**3"]),
        (lambda: ThresholdConfig(patience=0), ["patience"]),
        (lambda: ThresholdConfig.from_dict({"model": {"depth": 2}}), ["model.depth",
                                                                      "model.n_layer"]),
    ],
)  # fmt: skip
def test_bad_input_names_the_field(make, words):
    with pytest.raises(ConfigError) as e:
        make()
    for w in words:
        assert w in str(e.value)


@pytest.mark.parametrize(
    "m",
    [
        BudgetModelConfig(budget=10_000),
        BudgetModelConfig(budget=30_000, n_layer=3),
        BudgetModelConfig(arch="transformer", budget=10_000, n_head=2),
        BudgetModelConfig(arch="transformer", budget=64_000, n_head=32),
        BudgetModelConfig(arch="transformer", budget=128_000, n_layer=2, n_head=8),
    ],
)
def test_width_is_the_widest_within_the_budget_and_the_count_is_exact(m):
    w = width_for_budget(m, 10, 10)
    step = m.n_head if m.arch == "transformer" else 1
    n = count_params(build_budget_model(m, 10, 10))
    assert n == budget_param_count(m, w, 10, 10) <= m.budget
    assert budget_param_count(m, w + step, 10, 10) > m.budget
    assert w % step == 0


def test_mlp_at_10k_matches_the_closed_form():
    # one hidden layer: 100 * w + w + w * 100 + 100 <= 10_000  ->  w = 49
    assert width_for_budget(BudgetModelConfig(budget=10_000), 10, 10) == 49


def test_mappings_are_bijective_and_fixed_by_n_and_seed():
    x, y = make_bijective_mapping(500, 4, 5, seed=3)
    assert x.shape == y.shape == (500, 4) and x.dtype == torch.int64
    assert len({tuple(r) for r in x.tolist()}) == 500 and len({tuple(r) for r in y.tolist()}) == 500
    assert int(x.max()) == 4 and int(x.min()) == 0
    x2, y2 = make_bijective_mapping(500, 4, 5, seed=3)
    assert torch.equal(x, x2) and torch.equal(y, y2)
    assert not torch.equal(x, make_bijective_mapping(500, 4, 5, seed=4)[0])
    assert not torch.equal(x[:100], make_bijective_mapping(100, 4, 5, seed=3)[0])
    full_x, _ = make_bijective_mapping(16, 2, 4, seed=0)  # every one of the 4^2 sequences
    assert len({tuple(r) for r in full_x.tolist()}) == 16


def test_transformer_predicts_each_output_token_only_from_x_and_earlier_outputs():
    m = build_budget_model(BudgetModelConfig(arch="transformer", budget=8000, n_head=2), 6, 5)
    m.eval()
    x, y = torch.randint(0, 5, (3, 6)), torch.randint(0, 5, (3, 6))
    y2 = y.clone()
    y2[:, 3:] = (y2[:, 3:] + 1) % 5
    with torch.no_grad():
        a, b = m(x, y), m(x, y2)
    assert a.shape == (3, 6, 5)
    torch.testing.assert_close(a[:, :4], b[:, :4])  # logits for y_1..y_4 see y_1..y_3 only
    assert not torch.allclose(a[:, 4:], b[:, 4:])


FAST = OptimConfig(lr=1e-2, batch_size=0, warmup_steps=10, weight_decay=0.0)


@pytest.mark.parametrize("arch, budget, n_head", [("mlp", 4000, 1), ("transformer", 6000, 2)])
def test_a_model_memorizes_a_few_mappings_and_stops_at_100_percent(arch, budget, n_head):
    cfg = ThresholdConfig(
        model=BudgetModelConfig(arch=arch, budget=budget, n_head=n_head),
        data=MappingConfig(n_pairs=16), optim=FAST, max_epochs=600, eval_every=5,
    )  # fmt: skip
    records = []
    final = train_threshold(cfg, report=records.append)
    assert final["stop_reason"] == "memorized" and final["memorized"] == 1
    assert final["frac_tokens_correct"] == 1.0 and final["frac_seqs_correct"] == 1.0
    assert final["epochs"] < 600 and final["epochs"] % 5 == 0
    assert [r["epochs"] for r in records] == list(range(5, final["epochs"] + 1, 5))
    assert final["n_params"] <= budget


def test_too_many_mappings_for_the_budget_fail_by_plateau_or_max_epochs():
    cfg = ThresholdConfig(
        model=BudgetModelConfig(budget=300), data=MappingConfig(n_pairs=200, seq_len=2,
                                                                vocab_size=20),
        optim=FAST, max_epochs=400, eval_every=10, patience=50,
    )  # fmt: skip
    final = train_threshold(cfg)
    assert final["memorized"] == 0 and final["stop_reason"] in {"plateau", "max_epochs"}
    assert final["frac_tokens_correct"] < 1.0


def test_minibatches_when_the_data_outgrows_the_batch():
    cfg = ThresholdConfig(
        data=MappingConfig(n_pairs=100), optim=OptimConfig(lr=1e-2, batch_size=32,
                                                           warmup_steps=10),
        max_epochs=4, eval_every=2,
    )  # fmt: skip
    final = train_threshold(cfg)
    assert final["epochs"] == 4 and final["step"] == 4 * (100 // 32)


def test_the_seeds_3_epoch_patience_does_not_stop_a_probe_during_the_warmup():
    """Full batch: an epoch is one step, and the warmup's tiny lr makes no 1% progress."""
    cfg = ThresholdConfig(
        data=MappingConfig(n_pairs=64), optim=replace(FAST, warmup_steps=50), max_epochs=400,
        eval_every=1, patience=3,
    )  # fmt: skip
    final = train_threshold(cfg)
    assert final["epochs"] > 50
