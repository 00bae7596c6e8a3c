"""Where 3.6 comes from: tied embeddings, parameter counts by kind, precision, the vocabulary and
Morris presets, and the body-vs-embedding fit."""

import importlib.util
import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from conftest import ROOT, run_py

from analysis.capacity.report import analyze
from analysis.capacity.vocab import (
    fit_body_embedding,
    fit_per_vocab,
    group_table,
    morris_prediction,
    morris_prediction_by_trend,
)
from analysis.common.fit import FitResult
from memtune.core.config import ConfigError, ModelConfig, OptimConfig, replace
from memtune.core.data import with_bos
from memtune.core.models import build_model, count_params, param_split
from memtune.core.param_counts import gpt_param_count, gpt_param_split
from memtune.experiments.capacity.config import DataConfig, TrainConfig
from memtune.experiments.capacity.loop import train


def load_sweep():
    spec = importlib.util.spec_from_file_location("capacity_sweep", ROOT / "sweeps/capacity.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tied(name: str = "cpu-xxs", **kw) -> ModelConfig:
    return replace(ModelConfig.preset(name), tie_embeddings=True, **kw)


def test_tied_head_and_embedding_are_one_tensor():
    model = build_model(tied(), vocab_size=16, block_size=8)
    assert model.head_weight is model.wte.weight and model.lm_head is None
    assert not any(n.startswith("lm_head") for n, _ in model.named_parameters())
    x = torch.randint(0, 16, (4, 8))
    model(with_bos(x, model.bos_id)).sum().backward()
    assert model.wte.weight.grad is not None  # the head's gradient lands on the embedding


def test_tied_model_never_scores_bos():
    model = build_model(tied(), vocab_size=16, block_size=8)
    assert model(with_bos(torch.randint(0, 16, (2, 8)), model.bos_id)).shape == (2, 8, 16)


@pytest.mark.parametrize("pos_emb", ["learned", "rope"])
def test_untied_twin_with_the_same_weights_gives_the_same_loss(pos_emb):
    cfg = tied("cpu-s", pos_emb=pos_emb)
    a = build_model(cfg, vocab_size=16, block_size=8)
    b = build_model(replace(cfg, tie_embeddings=False), vocab_size=16, block_size=8)
    state = {k: v for k, v in a.state_dict().items() if k != "wte.weight"}
    w = a.wte.weight.detach()
    state["wte.weight"] = torch.cat([w, torch.zeros(1, w.size(1))])  # BOS reads zero
    state["lm_head.weight"] = w.clone()
    b.load_state_dict(state)
    x = torch.randint(0, 16, (5, 8))
    inputs = with_bos(x, a.bos_id)
    loss = [F.cross_entropy(m(inputs).reshape(-1, 16), x.reshape(-1)) for m in (a, b)]
    assert loss[0].item() == pytest.approx(loss[1].item(), rel=1e-6)
    # and a different BOS row in the twin changes it: the check can fail
    state["wte.weight"][-1] = torch.randn(w.size(1))  # (a constant row LayerNorm would remove)
    b.load_state_dict(state)
    assert F.cross_entropy(b(inputs).reshape(-1, 16), x.reshape(-1)).item() != pytest.approx(
        loss[0].item(), rel=1e-6
    )


@pytest.mark.parametrize("tie", [False, True])
@pytest.mark.parametrize("pos_emb", ["learned", "rope"])
@pytest.mark.parametrize("name, vocab", [("cpu-xxs", 2), ("cpu-s", 256), ("nano", 64)])
def test_param_split_closed_form_matches_the_built_model(tie, pos_emb, name, vocab):
    cfg = replace(ModelConfig.preset(name), tie_embeddings=tie, pos_emb=pos_emb)
    model = build_model(cfg, vocab_size=vocab, block_size=64)
    split = param_split(model)
    assert split == gpt_param_split(cfg, vocab, 64)
    assert sum(split.values()) == count_params(model) == gpt_param_count(cfg, vocab, 64)
    d = cfg.d_model
    assert split["embedding"] == (vocab * d if tie else (2 * vocab + 1) * d)
    assert split["position"] == (64 * d if pos_emb == "learned" else 0)


def test_morris_preset_counts_are_table_1s():
    sweep = load_sweep()
    models = sweep.MORRIS_MODELS
    assert len(models) == 16 and all(m.tie_embeddings for m in models)
    for m in models:
        d, n_layer = m.d_model, m.n_layer
        # GPT-2 with a tied 2048 x d embedding: embedding + positions + blocks + final norm
        table_1 = 2048 * d + 64 * d + n_layer * (12 * d * d + 13 * d) + 2 * d
        assert gpt_param_count(m, 2048, 64) == table_1
    counts = {m.name: gpt_param_count(m, 2048, 64) for m in models}
    assert counts["morris-1x32"] == 80_352
    assert round(counts["morris-8x256"] / 1e6, 2) == 6.86
    assert count_params(build_model(models[0], 2048, 64)) == 80_352  # the built model agrees
    preset = sweep.PRESETS["morris"]
    assert preset.base.data.vocab_size == 2048 and preset.base.data.seq_len == 64


def test_bad_dtype_names_the_field():
    with pytest.raises(ConfigError, match=r"optim.dtype must be one of fp32, mixed, bf16"):
        OptimConfig(dtype="fp16")
    with pytest.raises(ConfigError, match="model.tie_embeddings"):
        ModelConfig(tie_embeddings="yes")


@pytest.mark.trains
def test_bf16_reports_the_split_and_ends_elsewhere_than_fp32():
    cfg = TrainConfig(
        model=tied(), data=DataConfig(n_seqs=8, seq_len=16, vocab_size=4),
        optim=OptimConfig(dtype="bf16", batch_size=0), max_steps=60, eval_every=30,
        checkpoint_every=30,
    )  # fmt: skip
    reports = []
    out = train(cfg, report=lambda m, s: reports.append(m))
    # what pure bf16 stores (parameters and AdamW's moments): tests/test_precision.py
    split = gpt_param_split(cfg.model, 4, 16)
    assert {k: out[f"n_params_{k}"] for k in split} == split
    assert out["n_params"] == sum(split.values())
    assert math.isfinite(out["bits_memorized"]) and reports[0]["step"] < out["step"]
    # and bf16 is not fp32 under another name: the same run in fp32 ends elsewhere
    fp32 = train(replace(cfg, optim=replace(cfg.optim, dtype="fp32")))
    assert fp32["bits_memorized"] != out["bits_memorized"]


def synthetic_capacity(a, b: float, noise: float = 0.0) -> pd.DataFrame:
    """A capacity table whose capacities are a x non-embedding + b x embedding params (``a`` a
    number or a function of V)."""
    rng = np.random.default_rng(0)
    rows = []
    for v in (2, 16, 256):
        for tie in (False, True):
            split = gpt_param_split(replace(ModelConfig.preset("cpu-xxs"), tie_embeddings=tie),
                                    v, 64)  # fmt: skip
            for seed in (0, 1):
                nonemb, emb = split["body"] + split["position"], split["embedding"]
                a_v = a(v) if callable(a) else a
                bits = (a_v * nonemb + b * emb) * (1 + noise * rng.standard_normal())
                rows.append({
                    "model.name": f"cpu-xxs V={v}{' tied' if tie else ''}", "seed": seed,
                    "model.base": "cpu-xxs", "data.vocab_size": v, "model.tie_embeddings": tie,
                    "optim.dtype": "fp32", "n_params": sum(split.values()),
                    **{f"n_params_{k}": n for k, n in split.items()},
                    "capacity_bits": bits, "plateau_reached": True, "status": "converged",
                })  # fmt: skip
    return pd.DataFrame(rows)


def test_body_embedding_fit_recovers_known_bits():
    cap = synthetic_capacity(a=2.0, b=0.5, noise=0.01)
    fit, why = fit_body_embedding(cap)
    assert fit is not None and not why
    assert fit.params[0] == pytest.approx(2.0, rel=0.05)
    assert fit.params[1] == pytest.approx(0.5, rel=0.1)
    lo, hi = fit.ci95[0]
    assert lo < 2.0 < hi
    pred = morris_prediction(fit)[0]  # 1 x 32: 84% embedding, so near b
    assert pred["n_params"] == 80_352 and pred["ci95"][0] < pred["bpp_predicted"]
    assert pred["bpp_predicted"] == pytest.approx((2.0 * 14_816 + 0.5 * 65_536) / 80_352, rel=0.1)


def test_morris_prediction_at_exact_values():
    # a = 2 bits per non-embedding parameter, b = 0.5 per embedding parameter, their covariance,
    # and 4 groups: t with 3 df (3.1824), not n_points - 2 = 10
    cov = np.array([[0.01, 0.002], [0.002, 0.04]])
    fit = FitResult(("a", "b"), np.array([2.0, 0.5]), np.sqrt(np.diag(cov)), 12, 0.99,
                    np.zeros((2, 2)), "cluster-robust by group", 4, cov)  # fmt: skip
    pred = morris_prediction(fit)
    # Morris et al.'s d_model 32 models at V = 2048, T = 64, tied: 65,536 embedding parameters
    # (the shared table), 2,048 position parameters (non-embedding: learned, one per position),
    # 12,768 body parameters per layer (+ 12,704 per further layer)
    assert [p["n_params"] for p in pred] == [80_352, 93_056, 118_464, 169_280]
    assert [p["model"] for p in pred] == ["1x32", "2x32", "4x32", "8x32"]
    assert pred[0]["embedding_share"] == pytest.approx(65_536 / 80_352)
    # 1 x 32: (2 x (12,768 + 2,048) + 0.5 x 65,536) / 80,352
    assert pred[0]["bpp_predicted"] == pytest.approx(62_400 / 80_352, rel=1e-9)
    half = 3.18244630528 * math.sqrt(cov[0, 0] * 14_816**2 + 2 * cov[0, 1] * 14_816 * 65_536
                                     + cov[1, 1] * 65_536**2) / 80_352  # fmt: skip
    assert pred[0]["ci95"] == pytest.approx([62_400 / 80_352 - half, 62_400 / 80_352 + half])
    assert pred[0]["ci95"] == pytest.approx([0.24835042, 1.30481565], rel=1e-7)
    assert pred[3]["bpp_predicted"] == pytest.approx(1.41928166, rel=1e-7)
    assert pred[3]["ci95"] == pytest.approx([1.09008334, 1.74847998], rel=1e-7)
    assert pred[0]["morris_fp32"] == 4.23 and all(p["morris_fp32"] is None for p in pred[1:])
    # without clusters the intervals take n_points - 2 degrees of freedom
    ols = FitResult(("a", "b"), fit.params, fit.stderr, 12, 0.99, np.zeros((2, 2)), "OLS", None,
                    cov)  # fmt: skip
    high = morris_prediction(ols)[0]["ci95"][1]
    assert high - 62_400 / 80_352 == pytest.approx(half * 2.22813885 / 3.18244631)  # t, 10 df
    no_cov = FitResult(("a", "b"), fit.params, fit.stderr, 5, 0.99, np.zeros((2, 2)))
    assert all(math.isnan(x) for x in morris_prediction(no_cov)[0]["ci95"])


def test_morris_prediction_by_trend_at_exact_values():
    per_v = pd.DataFrame({
        "vocab_size": [4, 16, 64, 256],
        "bits_per_body_param": [2.1, 2.5, 2.8, 3.3], "body_se": [0.1, 0.1, 0.2, 0.2],
        "bits_per_embedding_param": [0.5, 1.5, 1.2, 1.6], "embedding_se": [1.0, 0.5, 0.25, 0.25],
    })  # fmt: skip
    pred = morris_prediction_by_trend(per_v)
    # each term a weighted least-squares line in log2 V (weights 1 / se^2) read at log2 V = 11;
    # checked against numpy's normal equations: a 3.8455 (se 0.0771), b 1.8822 (se 0.3734),
    # each interval t with 2 df (4.3027), the two combined as independent
    assert [p["n_params"] for p in pred] == [80_352, 93_056, 118_464, 169_280]
    assert pred[0]["bits_per_body_param"] == pytest.approx(3.84550562, rel=1e-7)
    assert pred[0]["bits_per_embedding_param"] == pytest.approx(1.88223350, rel=1e-7)
    assert pred[0]["bpp_predicted"] == pytest.approx(2.24423868, rel=1e-7)
    assert pred[0]["ci95"] == pytest.approx([0.93252106, 3.55595629], rel=1e-7)
    assert pred[3]["bpp_predicted"] == pytest.approx(3.08543354, rel=1e-7)
    assert pred[3]["ci95"] == pytest.approx([2.43109101, 3.73977607], rel=1e-7)
    assert pred[0]["morris_fp32"] == 4.23 and pred[1]["morris_fp32"] is None
    # a V whose errors are not finite (one point per twin) is left out; under 3 V's, nothing
    with_nan = pd.concat([per_v, per_v.iloc[:1].assign(vocab_size=2, body_se=np.nan)])
    assert morris_prediction_by_trend(with_nan) == pred
    assert morris_prediction_by_trend(per_v.iloc[:2]) == []
    assert morris_prediction_by_trend(per_v.iloc[:0]) == []


def test_each_vocabulary_solved_from_its_tied_and_untied_twins():
    # body bits that grow with V: the global fit cannot say so, each V's twins can
    cap = synthetic_capacity(a=lambda v: 2.0 + 0.25 * math.log2(v), b=1.0, noise=0.002)
    per_v = fit_per_vocab(cap).set_index("vocab_size")
    assert list(per_v.index) == [2, 16, 256]
    for v, r in per_v.iterrows():
        assert r["bits_per_body_param"] == pytest.approx(2.0 + 0.25 * math.log2(v), rel=0.02)
        assert r["bits_per_embedding_param"] == pytest.approx(1.0, abs=0.15)
        assert r["df"] == 2


def test_lower_bounds_stay_out_of_the_fit():
    cap = synthetic_capacity(a=2.0, b=0.5)
    cap.loc[cap["data.vocab_size"] != 2, "plateau_reached"] = False
    fit, why = fit_body_embedding(cap)
    assert fit is None and "2 fp32 group(s) have a converged capacity" in why
    table = group_table(cap)
    assert (table.loc[table["vocab_size"] == 256, "bound"] == ">=").all()


def test_mixed_vocabularies_get_no_single_slope(tmp_path):
    rows = []
    for v in (2, 16):
        for seed in (0, 1):
            split = gpt_param_split(ModelConfig.preset("cpu-xxs"), v, 64)
            rows.append({
                "model.name": "cpu-xxs", "data.n_seqs": 50, "seed": seed, "data.vocab_size": v,
                "n_params": sum(split.values()), **{f"n_params_{k}": n for k, n in split.items()},
                "bits_memorized_best": 2.0 * sum(split.values()), "bits_achievable": 1e6,
                "seqs_memorized": 0, "verdict": "saturated",
            })  # fmt: skip
    summary = analyze(pd.DataFrame(rows), tmp_path)
    assert summary["bits_per_param"] is None and "vocabulary" in summary["no_fit_reason"]
    groups = {g["group"]: g for g in summary["vocab"]["groups"]}
    assert set(groups) == {"cpu-xxs", "cpu-xxs V=16"}
    assert (tmp_path / "bits_per_param_vs_vocab.png").stat().st_size > 10_000
    json.loads((tmp_path / "summary.json").read_text())  # strict JSON


@pytest.mark.slow
def test_vocab_smoke_through_the_analysis(tmp_path):
    proc = run_py("sweeps/capacity.py", "--preset", "vocab-smoke", "--storage-path",
                  str(tmp_path), "--name", "vocab", "--num-cpus", "2")  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads((tmp_path / "vocab" / "analysis" / "summary.json").read_text())
    groups = {(g["vocab_size"], g["tied"]): g for g in summary["vocab"]["groups"]}
    assert set(groups) == {(2, False), (2, True), (16, False), (16, True)}
    cap = pd.read_csv(tmp_path / "vocab" / "analysis" / "capacity.csv")
    assert {"data.vocab_size", "model.tie_embeddings", "n_params_embedding"} <= set(cap)
    for (v, tie), g in groups.items():
        split = gpt_param_split(tied() if tie else ModelConfig.preset("cpu-xxs"), v, 64)
        assert g["n_params_embedding"] == split["embedding"]
        assert g["bound"] == ">="  # 300 steps: budget-stopped, lower bounds, said so
    assert summary["vocab"]["fit"] is None  # nothing converged: no fit through lower bounds
    assert "vocabulary, tying and precision" in proc.stdout


def _axis_rows(bpp_by_group):
    """Trials of cpu-xxs at V=256: {(tied, dtype): [bits/param per seed]}, saturated."""
    rows = []
    for (tie, dtype), values in bpp_by_group.items():
        model = tied() if tie else ModelConfig.preset("cpu-xxs")
        split = gpt_param_split(model, 256, 64)
        n = sum(split.values())
        for seed, b in enumerate(values):
            rows.append({
                "model.name": "cpu-xxs", "model.tie_embeddings": tie, "optim.dtype": dtype,
                "data.n_seqs": 60 + 10 * tie, "seed": seed, "data.vocab_size": 256,
                "n_params": n, **{f"n_params_{k}": c for k, c in split.items()},
                "bits_memorized_best": b * n, "bits_achievable": 1e6, "seqs_memorized": 0,
                "verdict": "saturated",
            })  # fmt: skip
    return pd.DataFrame(rows)


def test_tying_on_two_seeds_a_side_is_not_decided(tmp_path):
    # the documented V=256 figures: tied 2.997, 2.985 against untied 2.829, 2.811
    df = _axis_rows({(True, "fp32"): [2.997, 2.985], (False, "fp32"): [2.829, 2.811]})
    (c,) = analyze(df, tmp_path)["vocab"]["comparisons"]
    assert c["what"] == "tied - untied" and not c["paired"]  # shapes differ: inits differ
    assert c["verdict"] == "not decided" and c["diff"] == pytest.approx(0.171)
    # three seeds a side with the same gap decide it
    df3 = _axis_rows({(True, "fp32"): [2.997, 2.985, 2.99], (False, "fp32"): [2.829, 2.811, 2.82]})
    assert analyze(df3, tmp_path / "3")["vocab"]["comparisons"][0]["verdict"] == "held"


def test_precision_pairs_its_seeds_and_a_budget_seed_is_a_bound(tmp_path):
    df = _axis_rows({(False, "fp32"): [1.973, 2.168, 2.05], (False, "bf16"): [1.531, 1.70, 1.6]})
    (c,) = analyze(df, tmp_path)["vocab"]["comparisons"]
    assert c["what"] == "bf16 - fp32" and c["paired"] and c["verdict"] == "held"
    # the documented run: seed 1's bf16 run ended on its budget (a lower bound): "bf16 stores
    # less" cannot be held on a bound that may still rise past fp32
    df.loc[(df["optim.dtype"] == "bf16") & (df["seed"] == 1), "verdict"] = "budget"
    (c,) = analyze(df, tmp_path / "b")["vocab"]["comparisons"]
    assert c["verdict"] == "not decided" and "lower-bound" in c["why"]


def test_pure_bf16_is_compared_with_mixed_too(tmp_path):
    # mixed stores what fp32 does, pure bf16 less: bf16 - mixed is the storage question
    df = _axis_rows({(False, "fp32"): [2.0, 2.1, 2.05], (False, "mixed"): [2.02, 2.08, 2.06],
                     (False, "bf16"): [1.5, 1.6, 1.55]})  # fmt: skip
    df["frac_unchanged"] = df["optim.dtype"].map({"fp32": 0.0, "mixed": 0.0, "bf16": 0.4})
    v = analyze(df, tmp_path)["vocab"]
    comps = {c["what"]: c for c in v["comparisons"]}
    assert set(comps) == {"mixed - fp32", "bf16 - fp32", "bf16 - mixed"}
    assert comps["bf16 - mixed"]["paired"] and comps["bf16 - mixed"]["verdict"] == "held"
    assert comps["bf16 - mixed"]["diff"] == pytest.approx(-0.5033, abs=1e-3)
    assert comps["mixed - fp32"]["verdict"] != "held"
    groups = {g["dtype"]: g for g in v["groups"]}
    assert groups["bf16"]["frac_unchanged"] == pytest.approx(0.4)
    assert groups["mixed"]["frac_unchanged"] == 0.0
