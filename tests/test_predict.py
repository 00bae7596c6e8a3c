"""Memorization prediction (seed 003), pure parts: labels, features, loader, split, metrics."""

import math
import zlib

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import run_py

from analysis.predict.features import (
    build_features,
    domain_indicators,
    duplicate_counts,
    ngram_log_frequency,
    repetition,
    surprisal_stats,
    token_rarity,
    zlib_ratio,
)
from analysis.predict.report import (
    build_dataset,
    check_dataset,
    evaluate,
    group_folds,
    pick_roles,
    score_metrics,
    sequence_group,
)
from memtune.core.config import ConfigError, ModelConfig, OptimConfig
from memtune.core.data import with_bos
from memtune.core.models import build_model
from memtune.core.optim import make_optimizer, optimizer_step
from memtune.experiments.predict.config import DupCorpusConfig, PredictConfig
from memtune.experiments.predict.data import DupCorpus, load_pythia_memorized, make_dup_corpus
from memtune.experiments.predict.loop import extraction_labels, greedy_continuation, train_predict
from memtune.experiments.predict.loop import sequence_log_probs as token_log_probs

V = 16


class NextTokenModel(torch.nn.Module):
    """A hand-built language model: after token x it always predicts (x + 1) mod V.

    It "copies" every arithmetic progression mod V perfectly and nothing else; BOS (id V)
    predicts 0.
    """

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        nxt = torch.where(idx == V, torch.zeros_like(idx), (idx + 1) % V)
        return 10.0 * torch.nn.functional.one_hot(nxt, V).float()  # (B, T, V)


class ConstantModel(torch.nn.Module):
    """Predicts token 0 everywhere: it has memorized nothing."""

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        logits = torch.zeros(*idx.shape, V)
        logits[..., 0] = 5.0
        return logits


def progression(start: int, n: int = 64) -> torch.Tensor:
    return (torch.arange(n) + start) % V


def test_a_model_that_copies_extracts_its_sequences():
    seqs = torch.stack([progression(3), progression(11)])
    extractable, score = extraction_labels(NextTokenModel(), seqs, prefix_len=32, bos_id=V)
    assert extractable.tolist() == [True, True]
    assert score.tolist() == [1.0, 1.0]


def test_one_wrong_suffix_token_is_not_extractable_and_scores_31_of_32():
    seq = progression(5)
    seq[40] = (seq[40] + 7) % V  # the model would emit the progression, not this token
    extractable, score = extraction_labels(NextTokenModel(), seq[None], prefix_len=32, bos_id=V)
    assert extractable.tolist() == [False]
    assert score[0] == pytest.approx(31 / 32)


def test_a_model_that_does_not_copy_extracts_nothing():
    seqs = torch.stack([progression(3), progression(0)])
    extractable, score = extraction_labels(ConstantModel(), seqs, prefix_len=32, bos_id=V)
    assert not extractable.any()
    # it emits 32 zeros; a progression mod 16 holds token 0 at two of its 32 suffix positions
    assert score.tolist() == [2 / 32, 2 / 32]


def test_prefix_and_suffix_lengths_are_parameters():
    seq = progression(1, n=12)
    gen = greedy_continuation(NextTokenModel(), seq[None, :4], n_new=8, bos_id=V)
    assert gen[0].tolist() == seq[4:].tolist()
    extractable, score = extraction_labels(NextTokenModel(), seq[None], prefix_len=4, bos_id=V)
    assert extractable[0] and score[0] == 1.0


def test_token_log_probs_of_a_uniform_model_are_minus_log_v():
    class Uniform(torch.nn.Module):
        def forward(self, idx):
            return torch.zeros(*idx.shape, V)

    lp = token_log_probs(Uniform(), torch.stack([progression(0, 8)]), bos_id=V)
    np.testing.assert_allclose(lp, -math.log(V), rtol=1e-6)


def test_greedy_labels_agree_with_teacher_forced_argmax_on_a_trained_model():
    """Extractable <=> the argmax at every suffix position, given the true prefix, is right.

    Greedy decoding equals teacher-forced argmax up to its first mistake, so the two must agree
    on a real model: an independent check of the decoding loop (its feeding back, its offsets).
    """
    torch.manual_seed(0)
    corpus = make_dup_corpus(DupCorpusConfig(n_unique=48, alphas=(0.2,)))
    seqs = torch.from_numpy(corpus.sequences)
    model = build_model(ModelConfig.preset("nano"), vocab_size=V, block_size=64)
    opt = make_optimizer(model, OptimConfig(), 3e-3)
    for _ in range(120):  # full batch; memorizes some of the 48 sequences, not all
        optimizer_step(opt, model, model(with_bos(seqs, model.bos_id)), seqs, 1e-2, 1.0)
    model.eval()
    extractable, score = extraction_labels(model, seqs, prefix_len=32, bos_id=model.bos_id)
    with torch.no_grad():
        argmax = model(with_bos(seqs, model.bos_id)).argmax(-1)  # (N, T), teacher forced
    teacher = (argmax[:, 32:] == seqs[:, 32:]).all(dim=1).numpy()
    assert 0 < teacher.sum() < len(seqs)  # both classes, so the comparison can fail
    np.testing.assert_array_equal(extractable, teacher)
    assert ((score == 1.0) == extractable).all() and (score[~extractable] < 1).all()


def test_train_predict_labels_every_sequence_at_every_checkpoint():
    cfg = PredictConfig(
        model=ModelConfig.preset("cpu-s"),
        corpus=DupCorpusConfig(n_unique=64, max_count=20),
        max_steps=40,
        n_evals=2,
    )
    records = []
    tables = train_predict(cfg, report=lambda m, t: records.append((m, t)))
    assert [m["step"] for m, _ in records] == [20, 40]
    assert records[0][1] is None and records[1][1] is tables  # tables only at the end
    labels = tables["labels"]
    assert len(labels) == 128 and sorted(labels["step"].unique()) == [20, 40]
    assert labels["mem_score"].between(0, 1).all()
    lp = np.stack(tables["token_logprobs"]["logprobs"].to_numpy())
    assert lp.shape == (64, 64) and (lp <= 0).all()
    corpus = tables["corpus"]
    assert corpus["count"].sum() == len(make_dup_corpus(cfg.corpus).stream)


def test_corpus_is_deterministic_heavy_tailed_and_distinct():
    cfg = DupCorpusConfig(n_unique=500, max_count=50)
    a, b = make_dup_corpus(cfg), make_dup_corpus(cfg)
    np.testing.assert_array_equal(a.sequences, b.sequences)
    np.testing.assert_array_equal(a.stream, b.stream)
    assert a.sequences.shape == (500, 64)
    assert len(np.unique(a.sequences, axis=0)) == 500
    assert np.bincount(a.stream, minlength=500).tolist() == a.counts.tolist()
    assert (a.counts == 1).mean() > 0.5 and a.counts.max() > 10  # most unique, a few many times


def test_last_position_is_the_place_of_the_last_copy():
    corpus = DupCorpus(np.zeros((2, 3), np.int64), np.array([2, 1]), np.array([0, 1, 0]), V)
    assert corpus.last_position.tolist() == [1.0, 0.5]


# ---------------------------------------------------------------- features


def test_duplicate_counts():
    rows = np.array([[1, 2], [3, 4], [1, 2], [1, 2]])
    assert duplicate_counts(rows).tolist() == [3, 1, 3, 3]


def test_ngram_log_frequency_counts_every_copy_and_can_leave_the_sequence_out():
    seqs = np.array([[0, 1, 2, 0, 1, 2], [5, 6, 7, 8, 9, 5]])
    counts = np.array([2, 1])
    # 3-grams of row 0: 012, 120, 201, 012; with 2 copies: 012 x 4, 120 x 2, 201 x 2
    want = (2 * math.log(5) + 2 * math.log(3)) / 4
    assert ngram_log_frequency(seqs, counts, n=3)[0] == pytest.approx(want)
    assert ngram_log_frequency(seqs, counts, n=3, exclude_self=True).tolist() == [0.0, 0.0]
    shared = np.array([[0, 1, 2, 3], [0, 1, 2, 9]])  # 012 appears once in the other row
    other = ngram_log_frequency(shared, np.array([1, 1]), n=3, exclude_self=True)
    assert other.tolist() == pytest.approx([math.log(2) / 2, math.log(2) / 2])


def test_surprisal_stats():
    s = surprisal_stats(np.array([[-1.0, -2.0, -3.0]]))
    assert s["logp_mean"][0] == pytest.approx(-2.0)
    assert s["logp_min"][0] == pytest.approx(-3.0)
    assert s["logp_std"][0] == pytest.approx(math.sqrt(2 / 3))


def test_zlib_ratio_is_lower_for_regular_sequences():
    flat = np.zeros((1, 64), np.int64)
    assert zlib_ratio(flat)[0] == pytest.approx(len(zlib.compress(bytes(64), 9)) / 64)
    noisy = np.random.default_rng(0).integers(0, 16, size=(1, 64))
    assert zlib_ratio(flat)[0] < 0.5 < zlib_ratio(noisy)[0]
    big = np.array([[300] * 64])  # > 255 symbols: two bytes a token
    assert zlib_ratio(big)[0] == pytest.approx(
        len(zlib.compress(np.array([300] * 64, np.uint16).tobytes(), 9)) / 128
    )


def test_repetition():
    assert repetition(np.array([[0, 1, 2, 0, 1, 2]]), n=3)[0] == pytest.approx(0.25)
    assert repetition(np.arange(10)[None], n=3)[0] == 0.0


def test_token_rarity():
    r = token_rarity(np.array([[0, 0], [0, 1]]), counts=np.array([1, 1]))
    assert r[0] == pytest.approx(-math.log(3 / 4))
    assert r[1] == pytest.approx((-math.log(3 / 4) - math.log(1 / 4)) / 2)


def test_domain_indicators():
    d = domain_indicators(np.array([2, 0, 2]))
    assert {k: v.tolist() for k, v in d.items()} == {
        "domain_0": [0.0, 1.0, 0.0],
        "domain_2": [1.0, 0.0, 1.0],
    }


def test_build_features_has_one_row_per_sequence_and_no_missing_values():
    c = make_dup_corpus(DupCorpusConfig(n_unique=40))
    feats = build_features(c.table(), np.full((40, 64), -1.0))
    assert len(feats) == 40 and not feats.isna().any().any()
    assert feats["log_count"].tolist() == pytest.approx(np.log(c.counts).tolist())
    assert (feats["logp_mean"] == -1.0).all()


# ---------------------------------------------------------------- real data loader


def test_pythia_loader_reads_a_local_parquet_with_the_hub_schema(tmp_path, monkeypatch):
    pytest.importorskip("datasets")  # the hf extra; the dev extra installs it
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")  # a local file: nothing may reach a hub
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import pyarrow as pa
    import pyarrow.parquet as pq

    tokens = [list(range(i, i + 64)) for i in range(3)]
    table = pa.table(
        {
            "index": pa.array([7, 42, 1_000_000_007], pa.int64()),
            "tokens": pa.array(tokens, pa.list_(pa.int64())),
        }
    )
    path = tmp_path / "duped.1.4b.parquet"
    pq.write_table(table, path)
    df = load_pythia_memorized(data_files=str(path))
    assert df["index"].tolist() == [7, 42, 1_000_000_007]
    assert df["index"].dtype == np.int64
    assert [t.tolist() for t in df["tokens"]] == tokens
    pq.write_table(pa.table({"index": pa.array([1], pa.int64())}), tmp_path / "bad.parquet")
    with pytest.raises(ConfigError, match="lacks column.*tokens"):
        load_pythia_memorized(data_files=str(tmp_path / "bad.parquet"))


# ---------------------------------------------------------------- split and evaluation


def test_split_never_puts_one_sequence_on_both_sides():
    rng = np.random.default_rng(0)
    base = rng.integers(0, 16, size=(120, 8))
    rows = base[rng.integers(0, 120, size=600)]  # 600 rows, many copies of each sequence
    groups = np.array([sequence_group(r) for r in rows])
    y = rows[:, 0] < 3  # a label that is a function of the content, as memorization is
    folds = group_folds(y, groups, n_splits=5)
    assert len(folds) == 5
    seen = np.zeros(len(y), int)
    for train, test in folds:
        assert not set(groups[train]) & set(groups[test])
        assert y[test].any()  # stratified: every test fold holds positives
        seen[test] += 1
    assert (seen == 1).all()


def test_content_hash_groups_identical_sequences_only():
    a, b = np.arange(64), np.arange(64)
    assert sequence_group(a) == sequence_group(b.copy())
    b[-1] += 1
    assert sequence_group(a) != sequence_group(b)


def test_score_metrics_on_hand_built_predictions():
    y = np.array([1, 1, 0, 0, 0, 0], bool)
    pred = np.array([1, 0, 1, 0, 0, 0], bool)
    score = np.array([0.9, 0.4, 0.8, 0.1, 0.2, 0.3])
    m = score_metrics(y, pred, score)
    assert m["precision"] == 0.5 and m["recall"] == 0.5 and m["f1"] == 0.5
    assert m["auroc"] == pytest.approx(7 / 8)  # one of 8 (pos, neg) pairs misordered
    assert m["auprc"] == pytest.approx((1 + 2 / 3) / 2)


def _synthetic_dataset(n=400, seeds=(0, 1)):
    """Rows of (sequence, seed): memorized when duplicated enough; two seeds share content."""
    rng = np.random.default_rng(1)
    count = rng.zipf(2.0, size=n).clip(max=100)
    frames = []
    for s in seeds:
        label = (count >= 4) ^ (rng.random(n) < 0.03)
        frames.append(
            pd.DataFrame(
                {
                    "seed": s,
                    "seq_id": np.arange(n),
                    "group": [f"g{i}" for i in range(n)],
                    "label": label,
                    "baseline_pred": label & (count >= 8),
                    "baseline_score": (count >= 8) + 0.1 * rng.random(n),
                    "log_count": np.log(count),
                    "count": count,
                    "repetition": rng.random(n),
                    "position": rng.random(n),
                    "first_memorized_step": np.where(label, 100 + 100 * (count < 8), np.nan),
                    "memorized_at_100": label & (count >= 8),
                    "memorized_at_200": label,
                }
            )  # fmt: skip
        )
    return pd.concat(frames, ignore_index=True)


def test_evaluate_finds_the_feature_the_labels_depend_on():
    df = check_dataset(_synthetic_dataset())
    metrics, importance, scores = evaluate(df)
    m = metrics.set_index("predictor")
    assert list(m.index) == ["logistic", "gradient_boosting", "count_only", "baseline"]
    assert m.loc["gradient_boosting", "auroc"] > 0.9
    assert m.loc["baseline", "precision"] == 1.0  # it predicts a subset of the positives
    top = importance[importance["classifier"] == "gradient_boosting"].iloc[0]
    assert top["feature"] == "log_count"
    assert set(scores) == set(m.index) and all(len(s) == len(df) for s in scores.values())


def test_roles_default_to_model_size():
    trials = pd.DataFrame(
        {"model": ["b", "a", "c"], "n_params": [20, 10, 30], "seed": 0, "checkpoint": None}
    )
    assert pick_roles(trials) == {"reference": "a", "baseline": "b", "target": "c"}
    assert pick_roles(trials, target="b", baseline="c")["target"] == "b"
    with pytest.raises(ConfigError, match="needs 3 model sizes"):
        pick_roles(trials[trials["model"] != "c"])


def test_dataset_rows_of_two_seeds_share_the_group_of_their_sequence(tmp_path):
    cfg = PredictConfig(
        model=ModelConfig.preset("cpu-xxs"),
        corpus=DupCorpusConfig(n_unique=24, alphas=(0.1,)),
        max_steps=4,
        n_evals=2,
    )
    rows = []
    for i, (name, seed) in enumerate([("r", 0), ("b", 0), ("t", 0), ("b", 1), ("t", 1)]):
        tables = train_predict(PredictConfig.from_dict({**cfg.to_dict(), "seed": seed}))
        d = tmp_path / str(i)
        d.mkdir()
        for stem, t in tables.items():
            t.to_parquet(d / f"{stem}.parquet")
        rows.append({"model": name, "n_params": {"r": 1, "b": 2, "t": 3}[name], "seed": seed,
                     "checkpoint": d})  # fmt: skip
    trials = pd.DataFrame(rows)
    df = build_dataset(trials, pick_roles(trials))
    assert len(df) == 48 and sorted(df["seed"].unique()) == [0, 1]
    assert df.groupby("group")["seed"].nunique().eq(2).all()  # each sequence once per seed
    assert {"memorized_at_2", "memorized_at_4", "logp_mean", "log_count"} <= set(df.columns)


# ---------------------------------------------------------------- bad input


def test_bad_config_values_name_the_field():
    with pytest.raises(ConfigError, match="max_steps must be an integer >= 1"):
        PredictConfig(max_steps=0)
    with pytest.raises(ConfigError, match="corpus.n_unique must be an integer >= 1"):
        DupCorpusConfig(n_unique=0)
    with pytest.raises(ConfigError, match=r"n_evals \(9\) must be <= max_steps \(4\)"):
        PredictConfig(max_steps=4, n_evals=9)


def _one_line(proc, *words):
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    for w in words:
        assert w in lines[0], lines[0]


def test_unknown_preset_and_bad_analysis_input_fail_in_one_line(tmp_path):
    _one_line(run_py("sweeps/predict.py", "--preset", "giant"), "giant", "smoke", "default")
    _one_line(run_py("-m", "analysis.predict", str(tmp_path)), "holds no Tune experiment")
    p = tmp_path / "t.csv"
    pd.DataFrame({"label": [True]}).to_csv(p, index=False)
    _one_line(run_py("-m", "analysis.predict", str(p)), "lacks column(s)", "baseline_pred")
