"""Issue 14: numbers a researcher can trust (sums, checkpoints, trial status, grouping, fits)."""

import math

import numpy as np
import pandas as pd
import pytest

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


# ------------------------------------------------------------------ which trials count


def capacity_rows(status_of=None, **extra):
    """Two models x two sizes x one seed; ``status_of`` maps (model, N) to a Tune status."""
    rows = []
    for name, n_params, bits in [("a", 1000, 2000.0), ("b", 2000, 4000.0), ("c", 4000, 8000.0)]:
        for n_seqs in (16, 64):
            status = (status_of or {}).get((name, n_seqs), "TERMINATED")
            rows.append({
                "model.name": name, "data.n_seqs": n_seqs, "seed": 0, "n_params": n_params,
                "bits_memorized_best": bits * (9.0 if status == "RUNNING" else 1.0),
                "bits_achievable": 1e6, "seqs_memorized": 0, "status": status,
                "trial": f"capacity_{name}_{n_seqs}", **extra,
            })  # fmt: skip
    return rows


def test_capacity_fits_only_trials_that_ended_normally_and_says_the_rest(tmp_path):
    import pandas as pd

    from analysis.capacity.report import analyze

    rows = capacity_rows({("c", 64): "RUNNING", ("c", 16): "PAUSED"}, verdict="saturated")
    summary = analyze(pd.DataFrame(rows), tmp_path)
    assert summary["n_points"] == 2  # a and b; c's partial bits are not a capacity
    assert summary["bits_per_param"] == pytest.approx(2.0)
    assert summary["complete"] is False and summary["n_trials_unfinished"] == 2
    assert summary["unfinished_trials"] == [
        {"trial": "capacity_c_16", "status": "PAUSED"},
        {"trial": "capacity_c_64", "status": "RUNNING"},
    ]
    assert "experiment incomplete" in summary["warnings"][0]


def test_capacity_with_too_few_finished_sizes_fits_nothing_and_says_it_is_incomplete(tmp_path):
    import pandas as pd

    from analysis.capacity.report import analyze

    running = {(m, n): "RUNNING" for m in "bc" for n in (16, 64)}
    summary = analyze(pd.DataFrame(capacity_rows(running, verdict="saturated")), tmp_path)
    assert summary["bits_per_param"] is None
    assert "1 model size(s) have a converged capacity (a)" in summary["no_fit_reason"]
    assert "experiment incomplete" in summary["warnings"][0] and "RUNNING" in summary["warnings"][0]


def test_threshold_ignores_a_running_probe_and_leaves_its_group_unresolved(tmp_path):
    import pandas as pd

    from analysis.threshold import analyze

    base = {"model.arch": "mlp", "model.budget": 10_000, "model.n_layer": 1, "model.n_head": 1,
            "seed": 0, "n_params": 9949}  # fmt: skip
    rows = [
        {**base, "data.n_pairs": 16, "memorized": 1, "status": "TERMINATED"},
        {**base, "data.n_pairs": 32, "memorized": 0, "status": "RUNNING"},  # killed mid-run
    ]
    summary = analyze(pd.DataFrame(rows), tmp_path)
    g = summary["groups"][0]
    assert g["threshold"] == 16 and pd.isna(g["first_failure"]) and not g["resolved"]
    assert "unresolved" in summary["report"] and "experiment incomplete" in summary["report"]


# ------------------------------------------------------------------ groups by the whole config


@pytest.mark.parametrize("field", ["model.pos_emb", "data.seq_len", "optim.weight_decay"])
def test_capacity_refuses_to_merge_trials_that_differ_beyond_size_and_seed(tmp_path, field):
    import pandas as pd

    from analysis.capacity.report import analyze
    from memtune.core.cli import UsageError

    rows = capacity_rows()
    for i, r in enumerate(rows):
        r[field] = ["learned", "rope"][i % 2] if field == "model.pos_emb" else [64, 128][i % 2]
    with pytest.raises(UsageError, match=f"differ in {field}"):
        analyze(pd.DataFrame(rows), tmp_path)


def test_threshold_refuses_to_merge_groups_that_differ_in_lr(tmp_path):
    import pandas as pd

    from analysis.threshold import analyze
    from memtune.core.cli import UsageError

    base = {"model.arch": "mlp", "model.budget": 10_000, "model.n_layer": 1, "model.n_head": 1,
            "seed": 0, "n_params": 9949, "memorized": 1}  # fmt: skip
    rows = [{**base, "data.n_pairs": 16, "optim.lr": 1e-3}, {**base, "data.n_pairs": 32,
            "optim.lr": 1e-2}]  # fmt: skip
    with pytest.raises(UsageError, match="differ in optim.lr"):
        analyze(pd.DataFrame(rows), tmp_path)


# ------------------------------------------------------------------ intervals that respect the data


def scaling_rows(n_trials=6, status_of=None):
    """Trials of 9 epoch counts each; each trial has its own offset (one run, one draw)."""
    rng = np.random.default_rng(0)
    rows = []
    for t in range(n_trials):
        d = [2048, 4096, 8192][t % 3]
        offset = rng.normal(0, 0.3)
        for e in [1, 2, 5, 10, 20, 50, 100, 200, 500]:
            control = np.exp(-3.0 + 0.1 * np.log(e) + offset)
            rows.append({
                "trial_id": f"t{t}", "trial": f"scaling_t{t}", "seed": t // 3,
                "status": (status_of or {}).get(t, "TERMINATED"), "seed_set_tokens": d,
                "epochs": e, "mean_pz_control": control,
                "mean_pz": control * np.exp(0.3 * np.log(e) - 0.2 * np.log(d / 2048)
                                            + rng.normal(0, 0.02)),
            })  # fmt: skip
    return pd.DataFrame(rows)


def test_scaling_reports_cluster_robust_and_ols_intervals_and_the_ratio_fit(tmp_path):
    from analysis.scaling import analyze

    summary = analyze(scaling_rows(status_of={5: "ERROR"}), tmp_path)
    assert summary["n_points"] == 45 and summary["n_clusters"] == 5  # t5's rows are not fitted
    assert summary["unfinished_trials"] == [{"trial": "scaling_t5", "status": "ERROR"}]
    assert summary["interval"].startswith("cluster-robust by trial (5 clusters")
    lo, hi = summary["c2_ci95"]
    olo, ohi = summary["c2_ci95_ols"]
    assert hi - lo > 2 * (ohi - olo)  # 5 runs, not 45 independent rows
    ratio = summary["ratio"]  # targets / controls: the language learning cancels
    assert ratio["c1"] == pytest.approx(0.3, abs=0.01) and ratio["c2"] == pytest.approx(
        -0.2, abs=0.02
    )
    assert ratio["c1_ci95"][0] < 0.3 < ratio["c1_ci95"][1]


def zipf_records(status_of=None):
    rng = np.random.default_rng(1)
    rows = []
    for t in range(3):
        for rank in range(1, 9):
            offset = rng.normal(0, 0.5)  # each sequence its own curve
            for step in (10, 20, 40, 80, 160):
                n = step / rank
                rows.append({
                    "experiment": "small", "seed": t, "trial_id": f"z{t}", "trial": f"zipf_z{t}",
                    "status": (status_of or {}).get(t, "TERMINATED"), "rank": rank,
                    "step": step, "presentations": n, "accuracy": 0.5,
                    "loss_bits": float(np.exp(offset - 0.5 * np.log(n) + rng.normal(0, 0.01))),
                })  # fmt: skip
    return pd.DataFrame(rows)


def test_zipf_fits_finished_trials_with_intervals_clustered_by_sequence(tmp_path):
    from analysis.zipf.report import analyze

    summary, _ = analyze(zipf_records({2: "RUNNING"}), tmp_path, save_plots=False)
    fit = summary["fits"][0]
    assert fit["n_points"] == 2 * 8 * 5 and not summary["complete"]
    assert summary["unfinished_trials"] == [{"trial": "zipf_z2", "status": "RUNNING"}]
    assert fit["power_interval"].startswith("cluster-robust by sequence (16 clusters")
    (lo, hi), (olo, ohi) = fit["power_b_ci95"], fit["power_b_ci95_ols"]
    assert lo < 0.5 < hi and (lo, hi) != (olo, ohi)


# ------------------------------------------------------------------ --resume flags


@pytest.mark.parametrize("flags", [["--max-concurrent", "2"], ["--max-failures", "3"],
                                   ["--preset", "smoke"], ["--cpus-per-trial", "2"]])  # fmt: skip
def test_resume_refuses_flags_that_tune_would_silently_ignore(tmp_path, flags):
    from conftest import run_py
    from test_bad_input import assert_one_line_error

    proc = run_py("sweeps/capacity.py", "--resume", "--name", "x", "--storage-path",
                  str(tmp_path), *flags)  # fmt: skip
    assert_one_line_error(proc, "--resume", flags[0], "cannot change")


def test_a_pending_trial_run_to_the_end_by_an_extension_is_not_missing():
    """Joined with its extension, a stopped sweep's pending point that the extension finished
    is dropped; one no part finished, and the finished ones, stay."""
    from analysis.common.load import drop_superseded

    table = pd.DataFrame({
        "trial_id": ["a", "b", "c", "b2"],
        "seed": [0, 1, 2, 1],
        "model.name": ["cpu-xxs"] * 4,
        "status": ["TERMINATED", "PENDING", "PENDING", "TERMINATED"],
        "optim.decay_steps": [None, 5.0, np.nan, 5.0],  # missing values, as Tune's tables have
    })  # fmt: skip
    grid = ["seed", "model.name", "optim.decay_steps"]
    kept = drop_superseded(table, grid)
    assert list(kept["trial_id"]) == ["a", "c", "b2"]
    other_model = table.assign(**{"model.name": ["cpu-xxs", "cpu-xs", "cpu-xxs", "cpu-xxs"]})
    assert list(drop_superseded(other_model, grid)["trial_id"]) == ["a", "b", "c", "b2"]
