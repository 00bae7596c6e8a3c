"""ThresholdSearcher under real Ray Tune: exact thresholds, Ctrl+C and Tuner.restore, smoke sweep.

The in-process tests use a trainable with a known threshold (memorized iff N <= t) so that
every answer is exact; the smoke sweep runs the real probes in a fresh process, as a user would.
"""

import json
import os
import signal
import time

import pandas as pd
import pytest
from conftest import run_py

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # before ray: loopback only

pytestmark = pytest.mark.slow
EXPERIMENT = "threshold"  # the smoke fixture's sweep

THRESHOLDS = [0, 1, 13, 64, 1000]  # none, one, inside, at the cap, beyond the cap
START, N_MAX = 4, 64


@pytest.fixture(scope="module")
def ray_local():
    import ray

    ray.init(num_cpus=2, include_dashboard=False)
    yield
    ray.shutdown()


def make_trainable():
    from ray import tune

    def known_threshold(config):  # a closure, so Ray ships it by value to the workers
        time.sleep(0.3)
        tune.report({"memorized": int(config["data"]["n_pairs"] <= config["t"])})

    return known_threshold


class InterruptOnce:
    """A Tune callback that presses Ctrl+C once, after ``after`` trials completed."""

    def __new__(cls, after, marker):
        from ray import tune

        class _Interrupt(tune.Callback):
            def __init__(self):
                self.after, self.marker, self.seen = after, str(marker), 0

            def on_trial_complete(self, iteration, trials, trial, **info):
                self.seen += 1
                if self.seen >= self.after and not os.path.exists(self.marker):
                    open(self.marker, "w").close()
                    os.kill(os.getpid(), signal.SIGINT)

        return _Interrupt()


def tuner_for(path, name, slots, callbacks=()):
    from ray import tune

    from memtune.tune.searchers import ThresholdSearcher

    groups = [{"g": i, "t": t, "data": {"n_pairs": 0}} for i, t in enumerate(THRESHOLDS)]
    searcher = ThresholdSearcher(groups, start=START, n_max=N_MAX, max_concurrent=slots)
    return tune.Tuner(
        tune.with_resources(make_trainable(), {"cpu": 1}),
        tune_config=tune.TuneConfig(search_alg=searcher, num_samples=-1, reuse_actors=True),
        run_config=tune.RunConfig(
            name=name, storage_path=str(path), callbacks=list(callbacks), verbose=0
        ),
    )


def probes_of(results):
    return [
        (r.config["g"], r.config["data"]["n_pairs"], r.metrics["memorized"])
        for r in results
        if r.metrics and "memorized" in r.metrics  # a trial cut off by Ctrl+C has none
    ]


def check_exact(exp_dir, probes):
    record = json.loads((exp_dir / "threshold_search.json").read_text())
    got = [g["threshold"] for g in record["groups"]]
    assert got == [min(t, N_MAX) for t in THRESHOLDS]
    assert [g["censored"] for g in record["groups"]] == [t >= N_MAX for t in THRESHOLDS]
    assert len({(g, n) for g, n, _ in probes}) == len(probes), "a size was probed twice"
    for g, n, ok in probes:
        assert ok == int(n <= THRESHOLDS[g])


@pytest.mark.parametrize("slots", [1, 2])
def test_real_tune_finds_every_threshold(ray_local, tmp_path, slots):
    results = tuner_for(tmp_path, f"exact{slots}", slots).fit()
    assert not results.errors
    check_exact(tmp_path / f"exact{slots}", probes_of(results))


def test_ctrl_c_then_tuner_restore_continues_the_search(ray_local, tmp_path):
    from ray import tune

    marker = tmp_path / "interrupted"
    first = tuner_for(tmp_path, "resume", 2, [InterruptOnce(after=8, marker=marker)]).fit()
    assert marker.exists()
    done_before = {(g, n) for g, n, _ in probes_of(first)}
    assert 8 <= len(done_before) < 25  # stopped mid-search

    restored = tune.Tuner.restore(
        str(tmp_path / "resume"), make_trainable(), resume_unfinished=True
    )
    results = restored.fit()
    assert not results.errors
    probes = probes_of(results)
    check_exact(tmp_path / "resume", probes)
    # continued, not restarted: the finished probes are kept and none was run again
    assert done_before <= {(g, n) for g, n, _ in probes}
    assert len(probes) == len(results)


def test_smoke_sweep_runs_every_search_to_the_end_within_3_minutes(smoke):
    path, out, wall = smoke
    assert wall < 180
    assert "CPU time in trials:" in out and "memorization thresholds of 2 groups" in out
    th = pd.read_csv(path / "analysis" / "thresholds.csv")
    assert set(th["label"]) == {"mlp-2k-L1", "transformer-3k-L1-H2"}
    probes = pd.read_csv(path / "analysis" / "probes.csv")
    record = json.loads((path / "threshold_search.json").read_text())
    assert all(g["done"] for g in record["groups"])
    for g in record["groups"]:  # the searcher's record and the table agree
        row = th[th["label"] == g["config"]["model"]["name"]].iloc[0]
        assert row["threshold"] == g["threshold"]
        d = probes[probes["model.name"] == g["config"]["model"]["name"]]
        ok = d[d["memorized"] == 1]["data.n_pairs"]
        bad = d[d["memorized"] == 0]["data.n_pairs"]
        if g["threshold"] > 0:
            assert g["threshold"] in set(ok)  # the answer was itself memorized ...
        if not g["censored"]:
            assert g["threshold"] + 1 in set(bad)  # ... and one more was not
    for name in ["threshold_vs_params.png", "threshold_vs_depth.png", "threshold_vs_heads.png",
                 "threshold_bits_per_param.png"]:  # fmt: skip
        assert (path / "analysis" / name).stat().st_size > 5_000


def test_analysis_of_the_plain_table_in_a_fresh_process(smoke, tmp_path):
    path, _, _ = smoke
    proc = run_py("-m", "analysis.threshold", str(path / "analysis" / "probes.csv"),
                  "--out", str(tmp_path))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    again = pd.read_csv(tmp_path / "thresholds.csv")
    first = pd.read_csv(path / "analysis" / "thresholds.csv")
    assert again["threshold"].tolist() == first["threshold"].tolist()
    assert "best depth per budget" in proc.stdout and "seed threshold" in proc.stdout


def test_a_killed_probe_is_retried_and_the_searcher_and_analysis_count_the_same_probes(
    ray_local, tmp_path
):
    """A probe whose worker dies (as in an out-of-memory kill) before it reports must not
    lower the threshold: the searcher probes its size again, and the analysis, reading the
    store, sees the errored probe, does not count it as a failure, and agrees with the
    searcher on every group's threshold and probe counts."""
    import dataclasses

    from ray import tune

    from analysis.common.load import load_table
    from analysis.threshold import analyze
    from memtune.experiments.threshold.config import BudgetModelConfig, ThresholdConfig
    from memtune.tune.searchers import ThresholdSearcher

    truth = {2000: 13, 3000: 40}  # budget -> threshold
    kill_at, marker = 16, str(tmp_path / "kill_marker")  # a size both searches probe

    def probe(config):
        n, budget = config["data"]["n_pairs"], config["model"]["budget"]
        if n == kill_at and budget == 3000 and not os.path.exists(marker):
            open(marker, "w").close()
            os.kill(os.getpid(), signal.SIGKILL)  # the worker dies before its first report
        time.sleep(0.2)
        tune.report({"memorized": int(n <= truth[budget]), "n_params": budget - 7})

    groups = []
    for budget in truth:
        m = BudgetModelConfig(arch="mlp", budget=budget)
        groups.append(ThresholdConfig(model=dataclasses.replace(m, name=m.label)).to_dict())
    searcher = ThresholdSearcher(groups, start=4, n_max=64, max_concurrent=2)
    results = tune.Tuner(
        tune.with_resources(probe, {"cpu": 1}),
        tune_config=tune.TuneConfig(search_alg=searcher, num_samples=-1, reuse_actors=True),
        run_config=tune.RunConfig(
            name="killed",
            storage_path=str(tmp_path),
            verbose=0,
            failure_config=tune.FailureConfig(max_failures=0),
        ),  # fmt: skip
    ).fit()
    assert os.path.exists(marker) and len(results.errors) == 1
    record = searcher.summary()["groups"]
    assert [g["threshold"] for g in record] == list(truth.values())  # the kill lowered nothing
    assert [g["n_errors"] for g in record] == [0, 1]

    table = load_table(tmp_path / "killed")  # the killed probe never reported: a row anyway
    assert (table["status"] == "ERROR").sum() == 1
    summary = analyze(table, tmp_path / "analysis")
    th = {g["model.budget"]: g for g in summary["groups"]}
    for g, budget in zip(record, truth, strict=True):
        assert th[budget]["threshold"] == g["threshold"] and th[budget]["resolved"]
        assert th[budget]["n_probes"] == g["n_probes"]  # the same probes counted
        assert th[budget]["n_errors"] == g["n_errors"]
