"""The scaling-law experiment without Ray: config, corpus, P(z), the loop, the fitter, bad input."""

import copy
import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import run_py
from test_bad_input import assert_one_line_error

from analysis.scaling import analyze
from analysis.scaling.fit import fit_memorization_law
from analysis.scaling.report import check_table
from memtune.core.cli import UsageError
from memtune.core.config import ConfigError, CorpusConfig, ModelConfig, OptimConfig
from memtune.core.corpus import (
    MarkovLanguage,
    entropy_rate_bits,
    make_language,
    make_seed_set,
    sample_documents,
    source_token_probs,
)
from memtune.core.metrics import token_log_probs
from memtune.experiments.capacity.loop import TrainState
from memtune.experiments.scaling.config import ScalingConfig
from memtune.experiments.scaling.loop import (
    continuation_bits,
    pz_per_document,
    train_scaling,
)

SMALL = CorpusConfig(n_targets=8, n_controls=8, doc_len=32, prefix_len=8)
TINY = ScalingConfig(
    model=ModelConfig.preset("cpu-s"),
    corpus=SMALL,
    optim=OptimConfig(batch_size=8, lr=1e-2, warmup_steps=5, min_lr_frac=1.0),
    seed_set_tokens=512,  # 16 documents: 8 targets + 8 filler, 2 steps per epoch
    eval_epochs=(1, 10, 60),
)


# --- config ---------------------------------------------------------------------------------


def test_round_trip_also_from_the_lists_ray_gives_back():
    cfg = ScalingConfig(corpus=CorpusConfig(source="text", paths=("a.txt",)), eval_epochs=(1, 3))
    assert ScalingConfig.from_dict(cfg.to_dict()) == cfg
    d = cfg.to_dict()
    d["eval_epochs"], d["corpus"]["paths"] = [1, 3], ["a.txt"]  # JSON has no tuples
    assert ScalingConfig.from_dict(d) == cfg
    assert ScalingConfig.from_dict({}) == ScalingConfig()  # every field has a default


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda: CorpusConfig(source="wiki"), ["corpus.source", "markov", "text", "hf"]),
        (lambda: CorpusConfig(prefix_len=64), ["corpus.prefix_len (64)", "corpus.doc_len (64)"]),
        (lambda: CorpusConfig(source="text"), ["corpus.paths"]),
        (lambda: CorpusConfig(source="hf"), ["corpus.hf_dataset"]),
        (lambda: CorpusConfig(alpha=0), ["corpus.alpha", "> 0"]),
        (lambda: ScalingConfig(eval_epochs=(5, 2)), ["eval_epochs", "increasing"]),
        (lambda: ScalingConfig(eval_epochs=()), ["eval_epochs", "non-empty"]),
        (lambda: ScalingConfig(seed_set_tokens=1000), ["seed_set_tokens (1000)", "doc_len (64)"]),
        (lambda: ScalingConfig(seed_set_tokens=1024), ["corpus.n_targets (16)"]),
        (lambda: ScalingConfig(seed_set_tokens=64 * 40), ["optim.batch_size (16)", "40"]),
        (lambda: ScalingConfig.from_dict({"epochs": [1]}), ["epochs", "eval_epochs"]),
        (lambda: ScalingConfig.from_dict({"corpus": {"size": 1}}), ["corpus.size"]),
    ],
)
def test_bad_config_names_the_field(make, words):
    with pytest.raises(ConfigError) as e:
        make()
    for w in words:
        assert w in str(e.value), str(e.value)


# --- corpus ---------------------------------------------------------------------------------


def test_same_config_and_seed_give_the_same_seed_set_and_another_seed_another():
    a, b = make_seed_set(SMALL, 1024, seed=1), make_seed_set(SMALL, 1024, seed=1)
    for name in ["train", "targets", "controls"]:
        assert torch.equal(getattr(a, name), getattr(b, name)), name
    np.testing.assert_array_equal(a.targets_source_probs, b.targets_source_probs)
    assert not torch.equal(a.train, make_seed_set(SMALL, 1024, seed=2).train)


def test_targets_are_in_every_seed_set_controls_in_none_and_sizes_nest():
    small, big = make_seed_set(SMALL, 512, seed=0), make_seed_set(SMALL, 4096, seed=0)
    assert small.train.shape == (16, 32) and big.train.shape == (128, 32)
    assert torch.equal(small.targets, big.targets) and torch.equal(small.controls, big.controls)
    assert torch.equal(big.train[:16], small.train)  # the smaller seed set is inside the larger
    assert torch.equal(big.train[:8], big.targets)
    trained = {tuple(r) for r in big.train.tolist()}
    assert not any(tuple(r) in trained for r in big.controls.tolist())
    assert len(trained) == 128  # no document twice


def test_markov_documents_have_the_languages_entropy():
    lang = make_language(CorpusConfig())
    H = entropy_rate_bits(lang)
    assert 2.5 < H < 3.0  # the default: 16 symbols, alpha 0.3
    docs = sample_documents(lang, 4000, 64, seed=0)
    bits = -np.log2(source_token_probs(lang, docs)[:, 1:]).mean()
    assert bits == pytest.approx(H, rel=0.02)
    first = np.bincount(docs[:, 0], minlength=16) / 4000
    np.testing.assert_allclose(first, lang.initial, atol=0.03)  # documents start stationary


def test_text_files_are_chunked_deduplicated_and_deterministic(tmp_path):
    rng = np.random.default_rng(0)
    text = "".join(rng.choice(list("abcdefgh "), size=40 * 32))
    (tmp_path / "a.txt").write_text(text + "x" * 32 * 3)  # three identical chunks at the end
    cfg = CorpusConfig(source="text", paths=(str(tmp_path / "a.txt"),), doc_len=32, prefix_len=8,
                       n_targets=4, n_controls=4)  # fmt: skip
    s = make_seed_set(cfg, 32 * 30, seed=0)
    assert s.vocab_size == 256 and s.train.shape == (30, 32)
    assert torch.equal(s.train, make_seed_set(cfg, 32 * 30, seed=0).train)
    rows = [bytes(r) for r in torch.cat([s.train, s.controls]).tolist()]
    assert len(set(rows)) == len(rows) and rows.count(b"x" * 32) <= 1
    with pytest.raises(ConfigError, match="41 distinct documents"):
        make_seed_set(cfg, 32 * 40, seed=0)  # 40 + 4 controls > 41 distinct chunks
    with pytest.raises(ConfigError, match="not a readable file"):
        make_seed_set(CorpusConfig(source="text", paths=("/nonexistent.txt",)), 2048, seed=0)


def test_pydoc_corpus_is_real_text_from_the_standard_library():
    s = make_seed_set(CorpusConfig(source="pydoc"), 64 * 64, seed=0)
    text = bytes(s.targets[0].tolist()).decode("utf-8", errors="replace")
    assert s.vocab_size == 256 and sum(c.isalpha() for c in text) > 20
    assert s.targets_source_probs is None


# --- P(z) -----------------------------------------------------------------------------------


def test_pz_is_the_mean_continuation_token_probability_exactly():
    targets = torch.tensor([[0, 1, 1, 0], [1, 1, 1, 1]])
    p_one = torch.tensor([[0.3, 0.6, 0.9, 0.2], [0.5, 0.5, 0.25, 1.0]])  # P(token = 1)
    logits = torch.stack([torch.log1p(-p_one), torch.log(p_one)], dim=-1)  # (B, T, 2)
    probs = token_log_probs(logits, targets).exp()
    expected = torch.tensor([[0.7, 0.6, 0.9, 0.8], [0.5, 0.5, 0.25, 1.0]])
    torch.testing.assert_close(probs, expected)
    np.testing.assert_allclose(pz_per_document(probs, prefix_len=2), [0.85, 0.625])
    np.testing.assert_allclose(pz_per_document(probs, prefix_len=0), [0.75, 0.5625])
    bits = -(math.log2(0.9) + math.log2(0.8) + math.log2(0.25) + math.log2(1.0)) / 4
    assert continuation_bits(probs, 2) == pytest.approx(bits)


def test_source_probabilities_of_a_hand_built_markov_chain():
    lang = MarkovLanguage(np.array([0.25, 0.75]), np.array([[0.5, 0.5], [0.1, 0.9]]))
    probs = source_token_probs(lang, np.array([[0, 1, 1], [1, 0, 0]]))
    np.testing.assert_allclose(probs, [[0.25, 0.5, 0.9], [0.75, 0.1, 0.5]])
    np.testing.assert_allclose(pz_per_document(probs, 1), [0.7, 0.3])
    assert entropy_rate_bits(lang) == pytest.approx(0.25 * 1 + 0.75 * 0.4689955935892812)


# --- the training loop ----------------------------------------------------------------------


def test_reports_every_epoch_count_and_memorizes_the_targets_not_the_controls():
    records = []
    out = train_scaling(TINY, report=lambda m, s: records.append(m))
    assert out == records
    assert [r["epochs"] for r in records] == [1, 10, 60]
    assert [r["step"] for r in records] == [2, 20, 120]  # 16 documents, batch 8
    assert [r["tokens_seen"] for r in records] == [512, 5120, 30720]  # epochs x D
    first, last = records[0], records[-1]
    assert abs(first["pz_gap"]) < 0.02  # untrained: targets and controls alike
    assert last["mean_pz"] > 0.8 and last["mean_pz_control"] < 0.4  # memorized, not generalized
    assert last["mean_pz_source"] == pytest.approx(last["mean_pz_source_control"], abs=0.1)
    assert 0 < last["mean_pz"] <= 1 and last["pz_gap"] == last["mean_pz"] - last["mean_pz_control"]


def test_resume_from_a_checkpoint_matches_an_uninterrupted_run():
    cfg = dataclasses.replace(TINY, checkpoint=True, eval_epochs=(2, 5, 9))
    saved: dict[int, TrainState] = {}

    def keep(metrics, state):
        if state is not None:
            saved[metrics["epochs"]] = copy.deepcopy(state)

    full = train_scaling(cfg, report=keep)
    assert sorted(saved) == [2, 5]  # none after the last count: the trial is over
    resumed = train_scaling(cfg, resume=saved[2])
    assert [r["epochs"] for r in resumed] == [5, 9]
    for a, b in zip(full[1:], resumed, strict=True):
        assert a["mean_pz"] == b["mean_pz"] and a["mean_pz_control"] == b["mean_pz_control"]


# --- the fitter -----------------------------------------------------------------------------


def synthetic_table(c1, c2, c3, noise, seed=0, curvature=0.0):
    rng = np.random.default_rng(seed)
    e, d = np.meshgrid([1, 2, 5, 10, 20, 50, 100, 200, 500], [1e6, 1e7, 1e8])
    e, d = e.ravel().astype(float), d.ravel()
    log_pz = c1 * np.log(e) + c2 * np.log(d) + c3 + curvature * np.log(e) ** 2
    return pd.DataFrame(
        {
            "seed_set_tokens": d,
            "epochs": e,
            "mean_pz": np.exp(log_pz + rng.normal(0, noise, e.size)),
        }
    )


def two_seeds(c1, c2, c3, noise):
    """The synthetic grid run twice (seeds 0 and 1): 6 trials, enough for 3 cluster intervals."""
    return pd.concat(
        [synthetic_table(c1, c2, c3, noise, seed=s).assign(seed=s) for s in (0, 1)],
        ignore_index=True,
    )


def test_fitter_recovers_known_coefficients_from_a_noisy_table(tmp_path):
    truth = {"c1": 0.35, "c2": -0.25, "c3": 0.5}
    summary = analyze(two_seeds(*truth.values(), noise=0.05), tmp_path)
    for name, value in truth.items():
        for ci in (f"{name}_ci95", f"{name}_ci95_ols"):
            lo, hi = summary[ci]
            assert lo < value < hi, (ci, summary[name], lo, hi)
        assert summary[name] == pytest.approx(value, abs=0.06)
    assert summary["r2"] > 0.98 and summary["n_points"] == 54
    assert summary["interval"].startswith("cluster-robust by trial (6 clusters")
    assert summary["c1_positive"] and summary["c2_negative"]
    assert summary["warnings"] == []
    one_seed = analyze(synthetic_table(*truth.values(), noise=0.05), tmp_path / "one")
    assert np.isnan(one_seed["c1_ci95"]).all()  # 3 trials cannot give 3 cluster intervals
    assert [w[:24] for w in one_seed["warnings"]] == ["only 3 trials for 3 para"]
    for f in ["table.csv", "summary.json", "pz_actual_vs_predicted.png", "pz_residuals.png",
              "pz_scaling_curves.png"]:  # fmt: skip
        assert (tmp_path / f).stat().st_size > 1000, f
    table = pd.read_csv(tmp_path / "table.csv")
    np.testing.assert_allclose(
        np.log(table["mean_pz"]) - np.log(table["pz_predicted"]), table["log_residual"]
    )


def test_the_fit_can_be_restricted_to_an_epoch_range(tmp_path):
    df = synthetic_table(0.35, -0.25, 0.5, noise=0.05)
    df.loc[df["epochs"] < 10, "mean_pz"] = 0.01  # a flat start the law should not see
    summary = analyze(df, tmp_path, min_epochs=10)
    assert summary["epochs_range"] == [10, 500] and summary["n_points"] == 18
    assert summary["c1"] == pytest.approx(0.35, abs=0.05)
    assert len(pd.read_csv(tmp_path / "table.csv")) == 18


def test_interval_coverage_of_the_law_is_about_95_percent():
    hits = 0
    for seed in range(200):
        df = synthetic_table(0.35, -0.25, 0.5, noise=0.3, seed=seed)
        fit = fit_memorization_law(df["epochs"], df["seed_set_tokens"], df["mean_pz"])
        hits += fit.ci95[1, 0] < -0.25 < fit.ci95[1, 1]
    assert 0.9 < hits / 200 < 0.99


def test_saturation_and_too_few_points_are_warned_about(tmp_path):
    saturating = synthetic_table(0.5, -0.25, 0.5, noise=0.02, curvature=-0.05)
    warnings = analyze(saturating, tmp_path / "a")["warnings"]
    assert any("saturates" in w for w in warnings), warnings
    assert any("saturation at high epochs" in w for w in warnings), warnings
    flat = synthetic_table(0.5, -0.25, 0.5, noise=0.02)
    flat.loc[flat["seed_set_tokens"] == 1e6, "mean_pz"] = np.minimum(flat["mean_pz"], 0.8)
    warnings = analyze(flat, tmp_path / "c")["warnings"]
    assert any("seed set(s) 1,000,000 (0.07) grows" in w for w in warnings), warnings
    assert not any("10,000,000" in w for w in warnings if "saturation" in w), warnings
    few = synthetic_table(0.35, -0.25, 0.5, noise=0.05).query("epochs in (1, 100)")
    few = few[few["seed_set_tokens"] < 1e8]
    warnings = analyze(few, tmp_path / "b")["warnings"]
    assert any("rests on 4 points" in w for w in warnings), warnings
    assert any("only 2 seed-set sizes" in w for w in warnings), warnings


@pytest.mark.parametrize(
    "change, words",
    [
        (lambda df: df.drop(columns="mean_pz"), ["lacks column(s) mean_pz"]),
        (lambda df: df.assign(mean_pz=df["mean_pz"] * 0), ["non-positive mean_pz"]),
        (lambda df: df.assign(epochs=df["epochs"] - 1), ["non-positive epochs", "row 0"]),
        (lambda df: df.assign(seed_set_tokens="many"), ["non-numeric", "seed_set_tokens"]),
        (lambda df: df.assign(mean_pz=df["mean_pz"] * 100), ["exceed 1"]),
        (lambda df: df.assign(epochs=3), ["2 distinct values of epochs"]),
    ],
)
def test_bad_tables_raise_a_usage_error(change, words):
    with pytest.raises(UsageError) as e:
        check_table(change(synthetic_table(0.35, -0.25, 0.5, noise=0.05)))
    for w in words:
        assert w in str(e.value), str(e.value)


def test_cli_bad_input_is_one_line_and_exit_2(tmp_path):
    assert_one_line_error(run_py("-m", "analysis.scaling", str(tmp_path / "nope")), "not exist")
    table = synthetic_table(0.35, -0.25, 0.5, noise=0.05)
    table.drop(columns="epochs").to_csv(tmp_path / "a.csv", index=False)
    proc = run_py("-m", "analysis.scaling", str(tmp_path / "a.csv"))
    assert_one_line_error(proc, "lacks column(s) epochs", "seed_set_tokens, epochs, mean_pz")
    table.assign(mean_pz=-table["mean_pz"]).to_parquet(tmp_path / "b.parquet")
    proc = run_py("-m", "analysis.scaling", str(tmp_path / "b.parquet"))
    assert_one_line_error(proc, "non-positive mean_pz", "> 0")


def test_cli_on_a_plain_table_prints_the_fit(tmp_path):
    two_seeds(0.35, -0.25, 0.5, noise=0.05).to_csv(tmp_path / "wandb.csv", index=False)
    proc = run_py("-m", "analysis.scaling", str(tmp_path / "wandb.csv"))
    assert proc.returncode == 0, proc.stderr
    assert "c1     +0.3" in proc.stdout and "hypothesis > 0: matches" in proc.stdout
    assert (tmp_path / "wandb_analysis" / "pz_residuals.png").exists()


def test_sweep_rejects_an_unknown_preset_before_ray_starts():
    proc = run_py("sweeps/scaling.py", "--preset", "giant")
    assert_one_line_error(proc, "--preset", "giant", "smoke", "default", "paper")


def test_presets_expand_to_valid_grids_and_paper_is_the_seeds_grid():
    import importlib.util

    from conftest import ROOT

    from memtune.tune.sweep import expand

    spec = importlib.util.spec_from_file_location("scaling_sweep", ROOT / "sweeps" / "scaling.py")
    sweep = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sweep)
    trials = {name: expand(p) for name, p in sweep.PRESETS.items()}
    assert [len(trials[k]) for k in ["smoke", "default", "paper"]] == [2, 5, 3]
    paper = trials["paper"]
    assert [c["seed_set_tokens"] for c in paper] == [1_000_000, 10_000_000, 100_000_000]
    assert list(paper[0]["eval_epochs"]) == [
        1, 2, 5, 10, 20, 50, 75, 100, 150, 200, 375, 500, 562, 750, 1000, 1500, 3000
    ]  # fmt: skip
    seed = trials["seed"]  # the seed's 17 counts on 3 seed sets spanning 100x, same targets
    assert sorted(c["seed_set_tokens"] for c in seed) == [320, 3_200, 32_000]
    assert all(list(c["eval_epochs"]) == list(paper[0]["eval_epochs"]) for c in seed)
    assert all(c["corpus"]["n_targets"] < 320 // c["corpus"]["doc_len"] for c in seed)
    for c in trials["default"]:  # constant lr: a report after e epochs is an e-epoch run
        assert c["optim"]["min_lr_frac"] == 1.0
