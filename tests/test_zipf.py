"""The Zipf experiment's pure core: sampling, presentation counts, references, model, resume."""

import importlib.util

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from conftest import ROOT
from pyarrow import fs as pafs
from test_bad_input import assert_one_line_error, run_inproc

from analysis.zipf import main as zipf_main
from analysis.zipf.report import (
    comparison_groups,
    first_perfect,
    fit_loss_logistic,
    fit_power_law,
    loss_logistic,
)
from memtune.core.config import ConfigError, ModelConfig
from memtune.experiments.zipf.config import RECORDS_FILE, ArchConfig, ZipfConfig, ZipfDataConfig
from memtune.experiments.zipf.data import (
    SAMPLER_CHUNK,
    ZipfSampler,
    bayes_reference,
    make_zipf_sequences,
    zipf_probs,
)
from memtune.experiments.zipf.loop import ZipfState, train_zipf
from memtune.experiments.zipf.models import PhenoModel
from memtune.tune.records import RecordsFile
from memtune.tune.sweep import expand

TINY = ZipfConfig(
    arch=ArchConfig(name="t", model=ModelConfig("t", 1, 8, 1)),
    data=ZipfDataConfig(n_seqs=24, seq_len=12, alpha=1.2),
    max_steps=90,
    n_evals=4,
    first_eval=5,
)


def test_zipf_probs():
    p = zipf_probs(100, 1.5)
    assert p.sum() == pytest.approx(1.0)
    assert p[0] / p[-1] == pytest.approx(100**1.5)
    assert np.all(np.diff(p) < 0)
    assert np.allclose(zipf_probs(7, 0.0), 1 / 7)


def test_sequences_are_distinct_and_reproducible():
    cfg = ZipfDataConfig(n_seqs=200, seq_len=8)  # 200 of 256 possible: repeats must be redrawn
    x = make_zipf_sequences(cfg, 3)
    assert x.shape == (200, 8) and set(x.unique().tolist()) <= {0, 1}
    assert len({tuple(r) for r in x.tolist()}) == 200
    assert torch.equal(x, make_zipf_sequences(cfg, 3))
    assert not torch.equal(x, make_zipf_sequences(cfg, 4))
    # alpha does not change the sequences: arms differing in alpha train on the same data
    assert torch.equal(x, make_zipf_sequences(ZipfDataConfig(200, 8, alpha=2.0), 3))


def test_sampler_follows_zipf_and_is_a_function_of_the_step():
    p = zipf_probs(10, 1.0)
    s = ZipfSampler(p, 64, seed=5)
    steps = 4 * SAMPLER_CHUNK
    draws = torch.cat([s(i) for i in range(steps)]).numpy()
    freq = np.bincount(draws, minlength=10) / draws.size
    se = np.sqrt(p * (1 - p) / draws.size)
    assert np.all(np.abs(freq - p) < 5 * se)
    other = ZipfSampler(p, 64, seed=5)  # a fresh sampler, visited out of order
    for i in [3 * SAMPLER_CHUNK + 7, 11, SAMPLER_CHUNK]:
        assert torch.equal(other(i), s(i))


def _rank_of(data: torch.Tensor) -> dict[tuple, int]:
    return {tuple(row): r for r, row in enumerate(data.tolist())}


def test_presentations_equal_an_independent_count_of_the_batches():
    """Map every batch row the model was fed back to its sequence by content, and count."""
    data = make_zipf_sequences(TINY.data, TINY.seed)
    rank_of = _rank_of(data)
    fed: list[np.ndarray] = []

    def on_batch(y: torch.Tensor) -> None:
        fed.append(np.array([rank_of[tuple(row)] for row in y.tolist()]))

    rows: list[pd.DataFrame] = []
    train_zipf(TINY, report=lambda m, s, r: rows.append(r), on_batch=on_batch)
    assert [int(r["step"].iloc[0]) for r in rows] == TINY.eval_steps()
    for r in rows:
        step = int(r["step"].iloc[0])
        seen = np.concatenate(fed[:step])
        counted = np.bincount(seen, minlength=TINY.data.n_seqs)
        assert r["presentations"].tolist() == counted.tolist()
        assert r["presentations"].sum() == step * TINY.optim.batch_size
        assert r["rank"].tolist() == list(range(1, TINY.data.n_seqs + 1))


def _brute_force_bayes(x: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    K, T = x.shape
    bits, acc = np.zeros(K), np.zeros(K)
    for r in range(K):
        for t in range(T):
            same = np.all(x[:, :t] == x[r, :t], axis=1)
            p1 = p[same & (x[:, t] == 1)].sum() / p[same].sum()
            own = p1 if x[r, t] == 1 else 1 - p1
            bits[r] -= np.log2(own)
            acc[r] += own > 0.5
    return bits / T, acc / T


def test_bayes_reference_matches_brute_force_and_telescopes():
    cfg = ZipfDataConfig(n_seqs=40, seq_len=10, alpha=1.0)
    x, p = make_zipf_sequences(cfg, 0).numpy(), zipf_probs(40, 1.0)
    ref = bayes_reference(x, p)
    bits, acc = _brute_force_bayes(x, p)
    np.testing.assert_allclose(ref["floor_bits"], bits, rtol=1e-10)
    np.testing.assert_allclose(ref["bayes_accuracy"], acc)
    # the per-token floor times T is -log2 p_r: the code length of the mixture
    np.testing.assert_allclose(ref["floor_bits"] * 10, -np.log2(p), rtol=1e-10)
    assert ref["bayes_accuracy"].iloc[-1] < 1  # the rarest sequence loses shared prefixes


def test_pheno_model_is_the_seeds_linear_readout_and_causal():
    torch.manual_seed(0)
    T, d = 6, 3
    m = PhenoModel(T, d)
    ids = torch.tensor([[2, 1, 0, 0, 1, 1], [2, 0, 0, 1, 1, 0]])
    logits = m(ids)
    xi = torch.where(ids == 0, -1.0, 1.0)
    for b in range(2):
        for n in range(T):
            v = sum(m.A[n, i] * xi[b, i] for i in range(n + 1))
            z = v @ m.B
            torch.testing.assert_close(logits[b, n], torch.stack([torch.zeros(()), z]))
    # cross-entropy over the logits (0, z) is the binary cross-entropy of sigmoid(z)
    y = torch.tensor([[1, 0, 1, 1, 0, 0], [0, 0, 1, 0, 1, 1]])
    ce = F.cross_entropy(logits.transpose(1, 2), y)
    bce = F.binary_cross_entropy_with_logits(logits[..., 1], y.float())
    torch.testing.assert_close(ce, bce)
    changed = ids.clone()
    changed[:, 4] = 1 - changed[:, 4]
    torch.testing.assert_close(m(changed)[:, :4], logits[:, :4])  # no look-ahead


def test_pheno_and_rope_arms_train():
    for arch in [
        ArchConfig(name="p", kind="pheno", d_feature=4),
        ArchConfig(name="r", model=ModelConfig("r", 1, 8, 2, pos_emb="rope")),
    ]:
        out = train_zipf(
            ZipfConfig(arch=arch, data=TINY.data, max_steps=60, n_evals=2, first_eval=30)
        )
        assert out[-1]["loss_bits_zipf"] < out[0]["loss_bits_zipf"] + 0.2
        assert out[-1]["step"] == 60


def test_resumed_run_repeats_the_uninterrupted_one(tmp_path):
    cfg = ZipfConfig(**{**TINY.__dict__, "checkpoint_every": 1})
    full: list[pd.DataFrame] = []
    train_zipf(cfg, report=lambda m, s, r: full.append(r))
    states: list[ZipfState] = []

    def stop_after_two(m, s, r):
        if s is not None:
            s.save(str(tmp_path))
            states.append(s)
        if len(states) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_zipf(cfg, report=stop_after_two)
    resumed: list[pd.DataFrame] = []
    train_zipf(cfg, report=lambda m, s, r: resumed.append(r), resume=ZipfState.load(tmp_path))
    assert len(resumed) == len(full) - 2
    for a, b in zip(full[2:], resumed, strict=True):
        assert a["presentations"].tolist() == b["presentations"].tolist()
        np.testing.assert_allclose(a["loss_bits"], b["loss_bits"], rtol=1e-4, atol=1e-5)


def test_records_file_rewrites_and_drops_rows_after_the_resume_step(tmp_path):
    local = pafs.LocalFileSystem()
    rec = RecordsFile(local, str(tmp_path), RECORDS_FILE)
    for step in [10, 20, 30]:
        rec.append(pd.DataFrame({"step": [step] * 3, "rank": [1, 2, 3]}))
    assert len(pd.read_parquet(tmp_path / RECORDS_FILE)) == 9
    again = RecordsFile(local, str(tmp_path), RECORDS_FILE, resume_step=20)
    again.append(pd.DataFrame({"step": [30] * 3, "rank": [1, 2, 3]}))
    table = pd.read_parquet(tmp_path / RECORDS_FILE)
    assert table["step"].tolist() == [10] * 3 + [20] * 3 + [30] * 3
    assert not (tmp_path / (RECORDS_FILE + ".tmp")).exists()


def test_config_round_trip_and_bad_values():
    cfg = ZipfConfig(arch=ArchConfig(name="x", kind="pheno"), seed=3)
    assert ZipfConfig.from_dict(cfg.to_dict()) == cfg
    assert TINY.eval_steps()[-1] == TINY.max_steps and TINY.eval_steps()[0] == 5

    def merged(over: dict) -> dict:
        d = cfg.to_dict()
        for k, v in over.items():
            d[k] = {**d[k], **v} if isinstance(v, dict) else v
        return d

    for bad, field in [
        ({"data": {"alpha": -1}}, "data.alpha"),
        ({"data": {"n_seqs": 0}}, "data.n_seqs"),
        ({"data": {"n_seqs": 300, "seq_len": 8}}, "data.n_seqs"),
        ({"arch": {"kind": "rnn"}}, "arch.kind"),
        ({"arch": {"lr_mult": 0}}, "arch.lr_mult"),
        ({"first_eval": 10, "max_steps": 5}, "first_eval"),
        ({"optim": {"batch_size": 0}}, "optim.batch_size"),
    ]:
        with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
            ZipfConfig.from_dict(merged(bad))


def test_fits_recover_known_laws():
    rng = np.random.default_rng(0)
    n = np.geomspace(1, 1e4, 300)
    loss = 2.0 * n**-0.4 * np.exp(rng.normal(0, 0.05, n.size))
    pl = fit_power_law(n, loss)
    assert -pl.params[0] == pytest.approx(0.4, abs=0.02)
    assert np.exp(pl.params[1]) == pytest.approx(2.0, rel=0.1)
    y = loss_logistic(n, 1.0, 300.0, 1.5) + rng.normal(0, 0.01, n.size)
    lg = fit_loss_logistic(n, y)
    assert lg.L0 == pytest.approx(1.0, abs=0.03)
    assert lg.n_half == pytest.approx(300, rel=0.1)
    assert lg.k == pytest.approx(1.5, rel=0.1)


def test_first_perfect_and_comparison_groups():
    df = pd.DataFrame(
        {
            "seed": 0,
            "rank": [1, 1, 1, 2, 2, 2],
            "step": [1, 2, 3, 1, 2, 3],
            "presentations": [5, 9, 14, 1, 2, 3],
            "accuracy": [0.5, 1.0, 1.0, 0.5, 0.6, 0.7],
        }
    )
    fp = first_perfect(df).set_index("rank")
    assert fp.loc[1, "n_first_perfect"] == 9 and fp.loc[1, "perfect_at_end"]
    assert np.isnan(fp.loc[2, "n_first_perfect"]) and not fp.loc[2, "perfect_at_end"]
    arms = pd.DataFrame(
        {
            "experiment": ["a", "b", "c", "d", "p"],
            "kind": ["gpt"] * 4 + ["pheno"],
            "n_layer": [1, 1, 2, 1, 0],
            "n_head": [2, 4, 2, 2, 0],
            "d_model": [32, 32, 32, 32, 16],
            "pos_emb": ["learned", "learned", "learned", "rope", "none"],
            "lr": [0.01] * 5,
        }
    )
    assert comparison_groups(arms, "n_head") == [["a", "b"]]
    assert comparison_groups(arms, "n_layer") == [["a", "c"]]
    assert comparison_groups(arms, "pos_emb") == [["a", "d"]]
    assert comparison_groups(arms, "lr") == []


def test_every_preset_is_valid_and_default_has_the_seeds_experiments():
    spec = importlib.util.spec_from_file_location("zipf_sweep", ROOT / "sweeps" / "zipf.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    names = {}
    for preset, sweep in module.PRESETS.items():
        configs = expand(sweep)  # validates every trial's config, as run_sweep does
        names[preset] = {c["arch"]["name"] for c in configs}
    assert {"small", "medium", "large_rope", "large_lr", "pheno"} <= names["default"]
    assert {"small", "medium", "large_rope", "large_lr", "pheno"} <= names["paper"]


def test_analysis_bad_tables_fail_in_one_line(tmp_path, capsys):
    p = tmp_path / "r.csv"
    pd.DataFrame({"rank": [1], "loss_bits": [0.5]}).to_csv(p, index=False)
    res = run_inproc(zipf_main, [str(p), "--no-show-plots"], capsys)
    assert_one_line_error(res, "lacks column(s)", "presentations", "accuracy")
    good = {"experiment": "a", "seed": 0, "rank": 1, "step": 1, "loss_bits": 0.5}
    pd.DataFrame([{**good, "presentations": -1, "accuracy": 0.5}]).to_csv(p, index=False)
    res = run_inproc(zipf_main, [str(p), "--no-show-plots", "--force-reprocess"], capsys)
    assert_one_line_error(res, "presentations must be >= 0")
    res = run_inproc(zipf_main, [str(tmp_path), "--no-show-plots"], capsys)
    assert_one_line_error(res, "holds no Tune experiment")
