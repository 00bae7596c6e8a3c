"""ThresholdSearcher through Tune's Searcher API, driven by an event loop like Tune's.

The loop plays Tune's part: it asks ``suggest`` whenever a slot is free, runs each probe for a
random time, and reports ``on_trial_complete`` in finishing order. The trainable is a known
threshold (memorized iff N <= t), so every answer is exact.
"""

import math
import random

import pytest
from ray.tune.search import ConcurrencyLimiter, Searcher

from memtune.core.bisection import GroupSearch, doubling, flips, resolve
from memtune.core.config import ConfigError
from memtune.tune.searchers import ThresholdSearcher

START, N_MAX = 8, 1000


def groups_for(ts):
    return [{"g": i, "t": t, "data": {"n_pairs": 0}} for i, t in enumerate(ts)]


def run(searcher, slots, rng, restore_after=None, tmp_path=None, outcome=None):
    """Drive the searcher to FINISHED; return (searcher, probes as (group, N) in order)."""
    outcome = outcome or (lambda cfg: cfg["data"]["n_pairs"] <= cfg["t"])
    running, probes, count, finished, now = [], [], 0, False, 0.0
    while True:
        while not finished and len(running) < slots:
            tid = f"trial_{count:05d}"
            cfg = searcher.suggest(tid)
            if cfg == Searcher.FINISHED:
                finished = True
            elif cfg is None:
                # a slot stays free only when no open group has a useful size left to probe
                assert all(s.propose() is None for s in searcher.searches)
                break
            else:
                count += 1
                running.append((now + rng.uniform(0.5, 2.0), tid, cfg))
        if finished and not running:
            return searcher, probes
        assert running, "nothing running, nothing suggested, and not finished: Tune would hang"
        running.sort(key=lambda r: r[0])
        now, tid, cfg = running.pop(0)
        probes.append((cfg["g"], cfg["data"]["n_pairs"]))
        searcher.on_trial_complete(tid, {"memorized": int(outcome(cfg))})
        if restore_after is not None and len(probes) == restore_after:
            path = tmp_path / "searcher-state.pkl"
            searcher.save(str(path))
            searcher = ThresholdSearcher([{"unrelated": 1}], start=1, n_max=2)  # a blank one
            searcher.restore(str(path))


CASES = [0, 1, 2, START - 1, START, START + 1, 37, 64, 65, 500, N_MAX - 1, N_MAX, 3 * N_MAX]


@pytest.mark.parametrize("slots", [1, 2, 3])
@pytest.mark.parametrize("t", CASES)
def test_one_group_finds_the_exact_threshold(t, slots):
    searcher = ThresholdSearcher(groups_for([t]), start=START, n_max=N_MAX, max_concurrent=slots)
    searcher, probes = run(searcher, slots, random.Random(t))
    (g,) = searcher.summary()["groups"]
    assert g["threshold"] == min(t, N_MAX)
    assert g["censored"] == (t >= N_MAX)
    assert g["first_failure"] == (None if t >= N_MAX else t + 1)
    assert len(set(probes)) == len(probes), "a size was probed twice"
    if slots == 1:  # sequential: exactly doubling then bisection, nothing speculative
        sizes = doubling(START, N_MAX)
        gap = max(b - a for a, b in zip([0, *sizes[:-1]], sizes, strict=True))
        assert len(probes) <= len(doubling(START, N_MAX)) + math.ceil(math.log2(gap))


@pytest.mark.parametrize("slots", [1, 2, 4])
@pytest.mark.parametrize("seed", range(5))
def test_many_groups_at_once(slots, seed):
    rng = random.Random(seed)
    ts = [rng.choice([0, 1, rng.randrange(2, N_MAX), N_MAX, N_MAX + 5]) for _ in range(7)]
    searcher, probes = run(
        ThresholdSearcher(groups_for(ts), start=START, n_max=N_MAX, max_concurrent=slots),
        slots,
        rng,
    )
    got = [g["threshold"] for g in searcher.summary()["groups"]]
    assert got == [min(t, N_MAX) for t in ts]
    assert len(set(probes)) == len(probes)


@pytest.mark.parametrize("slots", [1, 2])
@pytest.mark.parametrize("when", [1, 3, 10, 25])
def test_save_and_restore_mid_search_continues_without_repeating(tmp_path, slots, when):
    ts = [0, 5, 300, N_MAX, 4000]
    rng = random.Random(when)
    searcher, probes = run(
        ThresholdSearcher(groups_for(ts), start=START, n_max=N_MAX, max_concurrent=slots),
        slots,
        rng,
        restore_after=when,
        tmp_path=tmp_path,
    )
    assert [g["threshold"] for g in searcher.summary()["groups"]] == [min(t, N_MAX) for t in ts]
    assert len(set(probes)) == len(probes), "the restored searcher re-probed a size"
    assert (tmp_path / "threshold_search.json").exists()


def test_restored_searcher_takes_results_of_trials_that_were_in_flight(tmp_path):
    a = ThresholdSearcher(groups_for([50]), start=START, n_max=N_MAX, max_concurrent=2)
    first, second = a.suggest("x1"), a.suggest("x2")
    assert first["data"]["n_pairs"] == 8 and second["data"]["n_pairs"] == 16  # ran ahead
    a.save(str(tmp_path / "s.pkl"))
    b = ThresholdSearcher([{}])
    b.restore(str(tmp_path / "s.pkl"))
    assert b.suggest("x3") is None  # both slots are still taken by the requeued trials
    b.on_trial_complete("x2", {"memorized": 1})
    b.on_trial_complete("x1", {"memorized": 1})
    assert b.searches[0].outcomes == {8: True, 16: True}
    assert b.suggest("x4")["data"]["n_pairs"] == 32


def test_finished_only_when_every_group_is_done_and_nothing_is_in_flight():
    s = ThresholdSearcher(groups_for([0]), start=1, n_max=4, max_concurrent=2)
    assert s.suggest("a")["data"]["n_pairs"] == 1
    assert s.suggest("b")["data"]["n_pairs"] == 2  # speculative, ahead in the doubling
    s.on_trial_complete("a", {"memorized": 0})
    assert s.searches[0].done
    assert s.suggest("c") is None  # done, but b could still change the answer
    s.on_trial_complete("b", {"memorized": 0})
    assert s.suggest("d") == Searcher.FINISHED
    assert s.summary()["groups"][0]["threshold"] == 0


def test_a_trial_without_a_result_is_probed_again():
    s = ThresholdSearcher(groups_for([100]), start=16, n_max=64)
    assert s.suggest("a")["data"]["n_pairs"] == 16
    s.on_trial_complete("a", None)  # stopped before reporting: no information
    assert s.suggest("b")["data"]["n_pairs"] == 16
    s.on_trial_complete("b", {"memorized": 1})
    assert s.suggest("c")["data"]["n_pairs"] == 32


def test_an_errored_probe_is_retried_and_never_lowers_the_threshold():
    s = ThresholdSearcher(groups_for([100]), start=16, n_max=64)
    s.suggest("a")
    s.on_trial_complete("a", {"memorized": 1})
    assert s.suggest("b")["data"]["n_pairs"] == 32
    s.on_trial_complete("b", None, error=True)  # e.g. out of memory: says nothing about 32
    g = s.summary()["groups"][0]
    assert g["first_failure"] is None and g["n_errors"] == 1 and g["n_probes"] == 1
    assert s.suggest("c")["data"]["n_pairs"] == 32  # retried
    s.on_trial_complete("c", {"memorized": 1})
    assert s.suggest("d")["data"]["n_pairs"] == 64
    s.on_trial_complete("d", {"memorized": 1})
    assert s.suggest("e") == Searcher.FINISHED
    g = s.summary()["groups"][0]
    assert (g["threshold"], g["censored"], g["unresolved"]) == (64, True, [])


def test_a_size_that_keeps_crashing_leaves_the_group_unresolved():
    s = ThresholdSearcher(groups_for([100]), start=16, n_max=64)
    s.suggest("a")
    s.on_trial_complete("a", {"memorized": 1})
    for tid in "bc":
        assert s.suggest(tid)["data"]["n_pairs"] == 32
        s.on_trial_complete(tid, None, error=True)
    assert s.suggest("d") == Searcher.FINISHED
    g = s.summary()["groups"][0]
    assert (g["threshold"], g["first_failure"], g["unresolved"]) == (16, None, [32])


def test_an_errored_probe_rerun_by_retry_errored_still_counts():
    s = ThresholdSearcher(groups_for([100]), start=16, n_max=64)
    s.suggest("a")
    s.on_trial_complete("a", None, error=True)
    s.on_trial_complete("a", {"memorized": 1})  # Tuner.restore(resume_errored=True) reran it
    g = s.summary()["groups"][0]
    assert g["outcomes"] == {"16": True} and g["n_probes"] == 1


def test_tunes_concurrency_limiter_hands_its_limit_to_the_searcher():
    s = ThresholdSearcher(groups_for([10, 20, 30]), max_concurrent=1)
    limited = ConcurrencyLimiter(s, max_concurrent=2)
    assert s.max_concurrent == 2
    assert limited.suggest("a") is not None and limited.suggest("b") is not None
    assert limited.suggest("c") is None


def test_non_monotonic_rule_threshold_stops_at_the_first_failure():
    assert resolve({8: True, 16: True, 32: False, 64: True}) == (16, 32)
    assert resolve({8: True, 12: False, 16: True, 32: False}) == (8, 12)
    assert resolve({}) == (0, None)
    assert resolve({1: False, 2: True}) == (0, 1)
    assert flips({8: True, 12: False, 16: True, 32: False, 64: True}) == [
        (12, 16), (12, 64), (32, 64)
    ]  # fmt: skip


def test_non_monotonic_outcomes_are_recorded_and_the_search_still_ends():
    # memorized iff N <= 300, except that the draw at N = 64 happens to fail
    def outcome(cfg):
        n = cfg["data"]["n_pairs"]
        return n <= 300 and n != 64

    searcher = ThresholdSearcher(groups_for([0]), start=START, n_max=N_MAX, max_concurrent=3)
    searcher, _ = run(searcher, 3, random.Random(0), outcome=outcome)
    g = searcher.summary()["groups"][0]
    assert g["threshold"] == 63 and g["first_failure"] == 64
    assert g["threshold_upper"] >= 128 and (64, 128) in [tuple(f) for f in g["flips"]]


def test_group_search_splits_the_interval_between_probes_in_flight():
    g = GroupSearch(start=8, n_max=1000, outcomes={8: True, 16: True, 32: True, 64: False})
    assert g.propose() == 48
    g.start_probe("a", 48)
    assert g.propose() == 40  # the widest gap is now (32, 48)
    g.start_probe("b", 40)
    assert g.propose() == 56


@pytest.mark.parametrize("t", [37, 500, 777])
def test_a_relative_tolerance_stops_early_and_keeps_a_memorized_threshold(t):
    exact, _ = run(ThresholdSearcher(groups_for([t]), start=START, n_max=N_MAX), 1,
                   random.Random(0))  # fmt: skip
    loose = ThresholdSearcher(groups_for([t]), start=START, n_max=N_MAX, rel_tol=0.05)
    loose, probes = run(loose, 1, random.Random(0))
    (g,) = loose.summary()["groups"]
    # the answer was memorized, and the first failure lies within 5% of it above
    assert g["threshold"] <= t < g["first_failure"] <= g["threshold"] + max(1, int(0.05 * g[
        "threshold"]))  # fmt: skip
    fewer = len(probes) < exact.summary()["groups"][0]["n_probes"]
    assert fewer or int(0.05 * t) <= 1  # at 37, 5% is under one mapping: the exact search


def test_a_cap_per_group_from_its_config():
    groups = groups_for([300, 300])
    searcher = ThresholdSearcher(
        groups, start=START, n_max=lambda g: 64 if g["g"] else N_MAX, max_concurrent=2
    )
    searcher, _ = run(searcher, 2, random.Random(1))
    first, second = searcher.summary()["groups"]
    assert (first["threshold"], first["censored"]) == (300, False)
    assert (second["threshold"], second["censored"]) == (64, True)


def test_the_seed_preset_gives_each_protocol_its_rule_and_keeps_only_its_models():
    """sweeps/threshold.py's seed presets: the searcher's groups carry their protocol's stopping
    fields, the patient rule runs only the models it keeps, transformers under it are capped."""
    import importlib.util

    from conftest import ROOT

    from memtune.tune.sweep import expand

    spec = importlib.util.spec_from_file_location("threshold_sweep", ROOT / "sweeps/threshold.py")
    sweep = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sweep)
    smoke = sweep.PRESETS["seed-smoke"]
    searcher = smoke.search(expand(smoke), 2)
    groups = {(g["protocol"], g["model"]["name"]): g for g in searcher.groups}
    assert set(groups) == {("seed", "mlp-2k-L1"), ("seed", "mlp-2k-L2"), ("patient", "mlp-2k-L1")}
    for (protocol, _), g in groups.items():
        assert {k: g[k] for k in sweep.RULES[protocol]} == sweep.RULES[protocol]
    seed = sweep.PRESETS["seed"]
    searcher = seed.search(expand(seed), 2)
    caps = {(g["protocol"], g["model"]["arch"]): s.n_max
            for g, s in zip(searcher.groups, searcher.searches, strict=True)}  # fmt: skip
    assert caps == {("seed", "mlp"): 8192, ("seed", "transformer"): 8192,
                    ("patient", "mlp"): 8192, ("patient", "transformer"): 256}  # fmt: skip
    assert len(searcher.groups) == 70
    with pytest.raises(ConfigError, match="protocol must be one of seed, patient"):
        sweep.with_rule({"protocol": "convergd"})
