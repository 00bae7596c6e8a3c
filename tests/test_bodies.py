"""Two bodies at one vocabulary: a body parameter's bits without an assumption about the
embedding (analysis.capacity.bodies), and the preset that makes them."""

import math

import numpy as np
import pandas as pd
import pytest
from test_vocab import load_sweep

from analysis.capacity.bodies import (
    MORRIS_1X32_FP32,
    bodies_summary,
    body_comparisons,
    body_pairs,
    body_table,
    format_bodies,
    morris_models,
    morris_spread,
    next_measurement,
)
from memtune.core.config import ModelConfig, replace
from memtune.core.param_counts import gpt_param_split


def test_the_presets_bodies_share_every_embedding_and_position_parameter():
    sweep = load_sweep()
    untied = sweep.PRESETS["bodies"]
    tied = sweep.PRESETS["bodies-tied"]
    models = {(m["n_layer"], m["tie_embeddings"]): m for m in untied.space["model"].values}
    models |= {(m["n_layer"], m["tie_embeddings"]): m for m in tied.space["model"].values}
    assert set(models) == {(1, False), (2, False), (1, True), (2, True)}
    vocabs = untied.space["data"]["vocab_size"].values
    assert sorted(vocabs) == [2, 16, 256] and tied.base.data.vocab_size == 256
    for tie in (False, True):
        for v in vocabs if not tie else [256]:
            one, two = (gpt_param_split(ModelConfig(**models[(n, tie)]), v, 64) for n in (1, 2))
            assert one["embedding"] == two["embedding"] and one["position"] == two["position"]
            # the second block is the whole difference: 872 parameters at d_model 8
            assert two["body"] - one["body"] == 872
    assert len(untied.space["seed"].values) >= 3 and len(tied.space["seed"].values) >= 3


SHALLOW = ModelConfig.preset("cpu-xxs")
DEEP = replace(SHALLOW, name="cpu-xxs-2l", n_layer=2)


def synthetic(a, b: float, noise: float = 0.0, seeds=(0, 1, 2), vocabs=(2, 16, 256),
              tied=(False,), seed: int = 0) -> pd.DataFrame:  # fmt: skip
    """A capacity table of the bodies design whose capacities are a(V) x (body + positions)
    + b x embedding, times (1 + noise x a standard normal) per run."""
    rng = np.random.default_rng(seed)
    rows = []
    for v in vocabs:
        for tie in tied:
            for m in (SHALLOW, DEEP):
                split = gpt_param_split(replace(m, tie_embeddings=tie), v, 64)
                for s in seeds:
                    a_v = a(v) if callable(a) else a
                    bits = a_v * (split["body"] + split["position"]) + b * split["embedding"]
                    rows.append({
                        "model.base": m.name, "data.vocab_size": v, "model.tie_embeddings": tie,
                        "optim.dtype": "fp32", "seed": s,
                        **{f"n_params_{k}": n for k, n in split.items()},
                        "capacity_bits": bits * (1 + noise * rng.standard_normal()),
                        "plateau_reached": True,
                    })  # fmt: skip
    return pd.DataFrame(rows)


def test_a_and_b_recovered_exactly_without_noise():
    cap = synthetic(a=lambda v: 2.0 + 0.1 * math.log2(v), b=0.5)
    pairs = body_pairs(cap)
    assert len(pairs) == 9 and set(pairs["status"]) == {"exact"}
    assert (pairs["d_body"] == 872).all()
    table = body_table(pairs).set_index("vocab_size")
    for v in (2, 16, 256):
        assert table.loc[v, "a"] == pytest.approx(2.0 + 0.1 * math.log2(v), abs=1e-9)
        assert table.loc[v, "b"] == pytest.approx(0.5, abs=1e-9)
    # the capacity difference over the body difference, by hand at V = 256, seed 0
    r = pairs[(pairs["vocab_size"] == 256) & (pairs["seed"] == 0)].iloc[0]
    assert r["a"] == pytest.approx((r["capacity_deep"] - r["capacity_shallow"]) / 872)


def test_a_rising_with_v_is_held_and_noise_is_not():
    rising = body_comparisons(body_pairs(synthetic(a=lambda v: 2.0 + 0.2 * math.log2(v), b=0.5,
                                                   noise=0.005)))  # fmt: skip
    top = next(c for c in rising if c["what"] == "a(V=256) - a(V=2)")
    assert top["verdict"] == "held" and top["claim"] == "greater" and not top["paired"]
    assert top["diff"] == pytest.approx(1.4, rel=0.15)
    # pure noise (a constant, runs 5% apart): over 40 draws the rule never says "held"
    held = 0
    for k in range(40):
        flat = body_comparisons(body_pairs(synthetic(a=2.0, b=0.5, noise=0.05, seed=k)))
        claims = [c for c in flat if c["term"] == "a" and c["tied"] is not None]
        held += sum(c["verdict"] == "held" for c in claims)
    assert held <= 2  # 2 claims x 40 draws at a 2.5% one-sided level: ~2 expected at most


def test_two_seeds_are_not_decided():
    comps = body_comparisons(body_pairs(synthetic(a=lambda v: 2.0 + 0.5 * math.log2(v), b=0.5,
                                                  noise=0.001, seeds=(0, 1))))  # fmt: skip
    assert {c["verdict"] for c in comps} == {"not decided"}


def test_bounds_deep_is_a_bound_shallow_is_unknown():
    cap = synthetic(a=2.0, b=0.5, vocabs=(2,))
    cap.loc[(cap["model.base"] == "cpu-xxs-2l") & (cap["seed"] == 0), "plateau_reached"] = False
    cap.loc[(cap["model.base"] == "cpu-xxs") & (cap["seed"] == 1), "plateau_reached"] = False
    pairs = body_pairs(cap).set_index("seed")
    assert pairs.loc[0, "status"] == ">=" and pairs.loc[0, "a"] == pytest.approx(2.0)
    assert math.isnan(pairs.loc[0, "b"])  # b from a bound on a bounds nothing
    assert pairs.loc[1, "status"] == "?" and math.isnan(pairs.loc[1, "a"])
    row = body_table(pairs.reset_index()).iloc[0]
    assert row["n_unknown"] == 1 and row["n_exact"] == 1 and row["a_bound"] == "?"
    assert all(math.isnan(x) for x in row["a_ci95"])  # no interval over a mix


def test_tying_compared_for_a_and_b():
    cap = pd.concat(
        [
            synthetic(a=2.0, b=0.5, noise=0.002, vocabs=(256,), tied=(False,)),
            synthetic(a=2.0, b=1.5, noise=0.002, vocabs=(256,), tied=(True,), seed=1),
        ]
    )
    comps = {c["what"]: c for c in body_comparisons(body_pairs(cap))}
    assert comps["b tied - untied at V=256"]["verdict"] == "held"
    assert comps["b tied - untied at V=256"]["diff"] == pytest.approx(1.0, rel=0.1)
    assert comps["a tied - untied at V=256"]["verdict"] != "held"


def test_morris_spread_at_exact_values():
    models = [{"model": "m", "a": 2.0, "a_se": 0.1, "a_dof": 2, "b": 0.5, "b_se": 0.2, "b_dof": 2}]
    one = morris_spread(models)[0]
    # 1 x 32: 14,816 non-embedding and 65,536 embedding parameters of 80,352
    assert one["n_params"] == 80_352
    assert one["predictions"][0]["bpp"] == pytest.approx((2 * 14_816 + 0.5 * 65_536) / 80_352)
    half = 4.302652729911275 * math.hypot(0.1 * 14_816, 0.2 * 65_536) / 80_352
    assert one["predictions"][0]["ci95"] == pytest.approx(
        [62_400 / 80_352 - half, 62_400 / 80_352 + half]
    )
    assert one["verdict"] == "did not hold"  # 0.78 [0.05, 1.50] excludes 4.23 from below
    wide = [{**models[0], "b_se": 3.0}]
    assert morris_spread(wide)[0]["verdict"] == "held"  # an interval covering 4.23
    # two models, one covering and one excluding: the spread decides nothing
    assert morris_spread(models + wide)[0]["verdict"] == "not decided"
    assert MORRIS_1X32_FP32 == 4.23


def test_models_that_fit_and_the_summary_prints():
    cap = pd.concat(
        [
            synthetic(a=lambda v: 2.0 + 0.1 * math.log2(v), b=0.5, noise=0.01),
            synthetic(a=2.8, b=3.0, noise=0.01, vocabs=(256,), tied=(True,), seed=3),
        ]
    )
    s = bodies_summary(cap)
    names = [m["model"] for m in s["morris_models"]]
    assert names == ["a constant, one b", "a constant, b tied", "a rising in log2 V, one b",
                     "a rising in log2 V, b tied"]  # fmt: skip
    rising = s["morris_models"][2]
    assert rising["a"] > s["morris_models"][0]["a"]  # read at V = 2048, past the last V
    text = format_bodies(s)
    assert "a(V=256) - a(V=2) untied (fp32)" in text and "1x32" in text
    assert bodies_summary(cap[cap["model.base"] == "cpu-xxs"]) is None  # one body: no pairs
    assert morris_models(body_table(body_pairs(cap)).iloc[0:0]) == []


def test_a_pending_trials_empty_folder_is_not_a_half_written_trial(tmp_path):
    """A sweep stopped before it reached a trial leaves the empty folder Tune made for it: that
    trial never started (Tune's state says PENDING), which is not a corrupted store."""
    from analysis.common.load import _check_trial_files
    from analysis.common.store import Store
    from memtune.core.cli import UsageError

    (tmp_path / "pending").mkdir()
    _check_trial_files(Store.open(tmp_path / "pending"))  # no error
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "result.json").write_text("{}\n")
    with pytest.raises(UsageError, match="has no params.json"):
        _check_trial_files(Store.open(tmp_path / "half"))


def test_a_line_through_two_vocabularies_carries_their_errors():
    cap = synthetic(a=lambda v: 2.0 + 0.1 * math.log2(v), b=0.5, noise=0.01, vocabs=(2, 256))
    models = {m["model"]: m for m in morris_models(body_table(body_pairs(cap)))}
    rising = models["a rising in log2 V, one b"]
    # exact through the two V's: a(2048) = a(2) + (a(256) - a(2)) x (11 - 1) / (8 - 1)
    t = body_table(body_pairs(cap)).set_index("vocab_size")
    assert rising["a"] == pytest.approx(t.loc[2, "a"] + (t.loc[256, "a"] - t.loc[2, "a"]) * 10 / 7)
    assert rising["a_dof"] == 2  # 3 seeds behind each point
    # the extrapolation's error exceeds either point's own
    se_256 = (t.loc[256, "a_ci95"][1] - t.loc[256, "a_ci95"][0]) / 2 / 4.302652729911275
    assert rising["a_se"] > se_256


def test_the_next_measurement_names_the_v_nearest_2048_as_the_best_lever():
    cap = synthetic(a=lambda v: 2.0 + 0.1 * math.log2(v), b=0.5, noise=0.01, vocabs=(2, 256))
    nxt = {n["added"]: n["a_se_at_2048"] for n in next_measurement(body_table(body_pairs(cap)))}
    assert set(nxt) == {"none", "V=16", "V=64", "V=1024"}
    # a point nearer 2,048 pins the extrapolation most; any point helps
    assert nxt["V=1024"] < nxt["V=64"] < nxt["none"] and nxt["V=16"] < nxt["none"]


def test_a_tied_model_grid_joins_an_untied_one_but_a_protocol_field_does_not():
    """bodies (untied models) and bodies-tied (tied models) both sweep whole model configs: a
    tied model is another point of that axis, not another protocol; max_steps is."""
    from memtune.core.store import protocol_differences

    def trials(tied: bool, steps: int = 24000) -> list[dict]:
        return [{"model.name": n, "model.n_layer": k, "model.tie_embeddings": tied, "seed": 0,
                 "max_steps": steps} for n, k in (("cpu-xxs", 1), ("cpu-xxs-2l", 2))]  # fmt: skip

    axes = {"a": {"model", "seed"}, "b": {"model", "seed"}}
    assert protocol_differences({"a": trials(False), "b": trials(True)}, axes) == []
    assert protocol_differences({"a": trials(False), "b": trials(True, 12000)}, axes) == [
        "max_steps (24000 in a; 12000 in b)"
    ]
    # an axis only one part declares does not license the other's values
    one = {"a": {"model", "seed"}, "b": {"seed"}}
    assert protocol_differences({"a": trials(False), "b": trials(True)}, one) != []


def test_a_model_term_from_one_row_keeps_its_seeds_interval():
    cap = pd.concat(
        [
            synthetic(a=2.0, b=0.5, noise=0.01, vocabs=(2, 256)),
            synthetic(a=2.0, b=1.5, noise=0.01, vocabs=(256,), tied=(True,), seed=4),
        ]
    )
    models = {m["model"]: m for m in morris_models(body_table(body_pairs(cap)))}
    assert models["a constant, b tied"]["b_dof"] == 2  # one (V, tied) row of 3 seeds
    pred = morris_spread(list(models.values()))[0]["predictions"]
    assert all(np.isfinite(p["ci95"]).all() for p in pred)
