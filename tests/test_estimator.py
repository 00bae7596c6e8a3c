"""One estimator of a run's capacity, for trials and ground truths: the level, not the best."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from memtune.core.progress import gain_over, level, window_points


def noisy_flat(rng, n=144, every=500, value=2000.0, swing=0.02):
    """A run flat at ``value`` whose evaluations swing +-2% (sd 1%), as at 5% of the peak lr."""
    return [(every * (i + 1), value * (1 + swing / 2 * rng.standard_normal())) for i in range(n)]


def test_the_maximum_of_noisy_evaluations_is_biased_up_and_the_level_is_not():
    rng = np.random.default_rng(0)
    window = 144 * 500 // 4  # the protocol's last quarter: 37 evaluations
    maxima, levels = [], []
    for _ in range(300):
        h = noisy_flat(rng)
        maxima.append(max(v for s, v in window_points(h, window)) / 2000 - 1)
        levels.append(level(h, window) / 2000 - 1)
    # the max of ~37 draws with sd 1% sits ~2.1 sd above the level: the bias the old capacity
    # had against a ground truth read as a level
    assert np.mean(maxima) == pytest.approx(0.021, abs=0.003)
    assert abs(np.mean(levels)) < 0.0005
    assert np.std(levels) == pytest.approx(0.01 / np.sqrt(37), rel=0.2)


def test_the_level_reads_the_window_the_trend_judges():
    h = [(s, float(s)) for s in range(0, 1001, 100)]
    # window 300 from step 1000: evaluations 700..1000 (the last one at least 300 back included)
    assert [s for s, _ in window_points(h, 300)] == [700, 800, 900, 1000]
    assert level(h, 300) == 850.0
    assert level(h, 250) == 850.0  # 700 is the last evaluation at least 250 steps back
    assert level(h, 5000) == 500.0  # a run shorter than the window: all of it
    gain, full = gain_over(h, 300, "trend")
    assert full and gain == pytest.approx(300 / 850)


def test_the_loop_reports_the_level_of_its_judged_window():
    from memtune.experiments.capacity.config import TrainConfig
    from memtune.experiments.capacity.loop import train

    reports = []
    cfg = TrainConfig.from_dict({
        "max_steps": 400, "eval_every": 20, "patience": 400, "saturation_window": 100,
        "saturation_fraction": 0.25, "data": {"n_seqs": 8},
        "model": {"n_layer": 1, "d_model": 8, "n_head": 1},
        "optim": {"schedule": "wsd", "decay_steps": 60, "hold_steps": 150, "min_lr_frac": 0.05},
    })  # fmt: skip
    train(cfg, lambda m, s: reports.append(m))
    last = reports[-1]
    steps = [r["step"] for r in reports]
    window = max(100, int(np.ceil(0.25 * last["step"])))
    first = max(s for s in steps if s <= last["step"] - window)
    want = np.mean([r["bits_memorized"] for r in reports if r["step"] >= first])
    assert last["bits_memorized_level"] == pytest.approx(want)
    assert last["bits_memorized_level"] != pytest.approx(last["bits_memorized_best"])


def test_the_ground_truth_is_read_with_the_trials_estimator(tmp_path):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from capacity_truth import judge

    rng = np.random.default_rng(1)
    log = [
        {"step": s, "seconds": 1.0, "bits": b, "eff": 0.5, "n_params": 1000,
         "bits_per_param": b / 1000}
        for s, b in noisy_flat(rng, n=144, every=1000)
    ]  # fmt: skip
    (tmp_path / "r.json").write_text(json.dumps({"model": "m", "N": 9, "steps": 144_000,
                                                 "log": log}))  # fmt: skip
    j = judge(str(tmp_path / "r.json"))
    hist = [(r["step"], r["bits"]) for r in log]
    assert j["level_bits_per_param"] == pytest.approx(level(hist, 48_000) / 1000)
    assert j["level_bits_per_param"] == pytest.approx(
        np.mean([r["bits"] for r in log if r["step"] >= 96_000]) / 1000
    )


def test_a_store_that_predates_the_level_gets_it_from_its_evaluations():
    import pandas as pd

    from analysis.capacity.report import levels_from_history

    steps = list(range(500, 72_001, 500))
    bits = [2000.0 + (s % 1000 == 0) * 40.0 for s in steps]  # swings 2000 / 2040
    history = pd.DataFrame({"trial_id": "t1", "step": steps, "bits_memorized": bits})
    table = pd.DataFrame({
        "trial_id": ["t1"], "step": [72_000], "saturation_window": [18_000],
        "saturation_fraction": [0.25], "bits_memorized_best": [2040.0],
    })  # fmt: skip
    filled = levels_from_history(table, history)
    # the window is the last quarter, 18,000 steps: evaluations 54,000..72,000, 37 of them
    pts = [b for s, b in zip(steps, bits, strict=True) if s >= 54_000]
    assert filled["bits_memorized_level"].iloc[0] == pytest.approx(np.mean(pts))
    assert filled["bits_memorized_level"].iloc[0] < 2040.0
    # a level the store has is kept
    table["bits_memorized_level"] = 1234.0
    assert levels_from_history(table, history)["bits_memorized_level"].iloc[0] == 1234.0
