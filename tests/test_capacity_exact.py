"""The capacity analysis's rules at their edges: bits falling past the knee (and not), the ground
truth chosen by log distance in N, the ground-truth schedule in its decay."""

import math
import sys

import pandas as pd
import pytest
from conftest import ROOT

from analysis.capacity.report import capacities, falls_past_knee, ground_truth, with_verdicts


def trials(rows):
    """One model "a" of 1,000 parameters: (seed, N, bits memorized at best, verdict) per trial."""
    df = pd.DataFrame(rows, columns=["seed", "data.n_seqs", "bits_memorized_best", "verdict"])
    df["model.name"], df["n_params"] = "a", 1000
    df["bits_achievable"] = df["data.n_seqs"] * 58.0
    df["seqs_memorized"] = 0
    return with_verdicts(df)


def falls(rows):
    df = trials(rows)
    return falls_past_knee(df, capacities(df))


def test_bits_fall_past_the_knee_only_beyond_the_tolerance():
    knee = [(0, 17, 986.0, "memorized"), (0, 69, 2000.0, "saturated")]  # capacity 2,000 at N=69
    assert falls(knee + [(0, 200, 1680.0, "saturated")]) == [
        "a seed 0: N=200 saturated 16% below its capacity at N=69"
    ]
    # 14% below: within FALL_TOL (15%), seed noise, no warning
    assert falls(knee + [(0, 200, 1720.0, "saturated")]) == []
    # a budget trial past the knee is no evidence of a fall, however low
    assert falls(knee + [(0, 200, 500.0, "budget")]) == []
    # a smaller N that saturated lower is not past the knee
    assert falls([(0, 40, 1000.0, "saturated"), (0, 69, 2000.0, "saturated")]) == []
    # another seed's low trial is judged against its own capacity
    other = [(1, 69, 1700.0, "saturated"), (1, 200, 1650.0, "saturated")]
    assert falls(knee + other) == []
    # a capacity that is only a lower bound (memorized everything) is not compared
    assert falls([(0, 17, 986.0, "memorized"), (0, 30, 1700.0, "memorized")]) == []


def test_ground_truth_is_the_run_at_the_nearest_n_in_log_distance():
    # cpu-xxs has long runs at N=99 (2.036) and N=256 (1.896): their geometric middle is 159,
    # the arithmetic one 177.5; N=170 is nearer 256 by ratio, nearer 99 by difference
    assert ground_truth("cpu-xxs", 170) == (1.896, 256)
    assert ground_truth("cpu-xxs", 150) == (2.036, 99)
    assert ground_truth("cpu-xxs", 10) == (2.036, 99)
    assert ground_truth("cpu-xxs", 10_000) == (1.896, 256)
    assert ground_truth("cpu-s", 40) == (1.945, 512)
    bpp, n = ground_truth("cpu-m", 100)
    assert math.isnan(bpp) and n == 0
    bpp, n = ground_truth("cpu-xxs", 0)  # no N to compare at: no ZeroDivisionError
    assert math.isnan(bpp) and n == 0
    bpp, n = ground_truth("cpu-xxs", math.nan)  # a trial without N
    assert math.isnan(bpp) and n == 0


def test_ground_truth_schedule_in_its_decay():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from capacity_truth import lr_at

    # 3,000 steps: warmup to step 100, peak to 1,500, cosine to 5% by 2,000, then held
    assert lr_at(0, 3000, 1.0) == pytest.approx(0.01)
    assert lr_at(99, 3000, 1.0) == 1.0 and lr_at(100, 3000, 1.0) == 1.0
    assert lr_at(1500, 3000, 1.0) == 1.0
    assert lr_at(1625, 3000, 1.0) == pytest.approx(0.05 + 0.475 * (1 + math.sqrt(0.5)))
    assert lr_at(1750, 3000, 2.0) == pytest.approx(2 * 0.525)  # half-way: the mean of the ends
    assert lr_at(1875, 3000, 1.0) == pytest.approx(0.05 + 0.475 * (1 - math.sqrt(0.5)))
    assert lr_at(1999, 3000, 1.0) == pytest.approx(0.05, abs=1e-5)
    assert lr_at(2000, 3000, 1.0) == pytest.approx(0.05) and lr_at(2999, 3000, 1.0) == 0.05
    assert lr_at(1750, 3000, 1.0, low_frac=0.1) == pytest.approx(0.55)
