"""Configs: round trips, presets, and bad input that names the field."""

import pytest

from memtune.core.config import ConfigError, ModelConfig, OptimConfig
from memtune.core.models import build_model, count_params
from memtune.core.param_counts import gpt_param_count
from memtune.experiments.capacity.config import DataConfig, TrainConfig


def test_round_trip():
    cfg = TrainConfig(model=ModelConfig.preset("cpu-s"), data=DataConfig(n_seqs=7), seed=3)
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg


def test_old_results_with_missing_fields_still_load():
    assert TrainConfig.from_dict({"model": {"d_model": 16, "n_head": 2}}).model.d_model == 16


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda: ModelConfig.preset("huge"), ["unknown model preset 'huge'", "nano"]),
        (lambda: ModelConfig(d_model=30, n_head=4), ["model.d_model (30)", "model.n_head (4)"]),
        (lambda: DataConfig(n_seqs=0), ["data.n_seqs", ">= 1"]),
        (lambda: DataConfig(n_seqs=-5), ["data.n_seqs"]),
        (lambda: ModelConfig(pos_emb="alibi"), ["model.pos_emb", "learned", "rope"]),
        (lambda: OptimConfig(lr=-1.0), ["optim.lr"]),
        (lambda: TrainConfig.from_dict({"modle": {}}), ["unknown config field", "modle", "model"]),
        (lambda: TrainConfig.from_dict({"model": {"width": 3}}), ["model.width", "model.d_model"]),
        (lambda: OptimConfig(schedule="step"), ["optim.schedule", "cosine", "plateau"]),
        (lambda: OptimConfig(stall_steps=0), ["optim.stall_steps"]),
        (lambda: OptimConfig(decay_steps=-1), ["optim.decay_steps"]),
        (lambda: TrainConfig(saturation_window=0), ["saturation_window"]),
        (lambda: TrainConfig(saturation_tol=-0.1), ["saturation_tol"]),
        (lambda: TrainConfig(saturation_fraction=1.0), ["saturation_fraction"]),
        (lambda: TrainConfig(knee_multiple=-1.0), ["knee_multiple"]),
    ],
)
def test_bad_input_names_the_field(make, words):
    with pytest.raises(ConfigError) as e:
        make()
    for w in words:
        assert w in str(e.value)


@pytest.mark.parametrize("name", ["cpu-xxs", "cpu-s", "cpu-l", "nano", "micro"])
def test_param_count_formula_matches_the_built_model(name):
    m = ModelConfig.preset(name)
    assert gpt_param_count(m, 2, 64) == count_params(build_model(m, 2, 64))


def test_nano_has_27_6k_parameters_not_the_seeds_8k():
    assert count_params(build_model(ModelConfig.preset("nano"), 2, 64)) == 27_680
