"""The progress table's share of the budget and time left (memtune.core.eta) at exact values
on a hand-driven clock, and the wall time a sweep announces before it starts."""

from types import SimpleNamespace

import pytest

from memtune.core.eta import BUDGET_USED, TIME_LEFT, BudgetClock
from memtune.experiments import get
from memtune.tune.plan import expected_wall, start_note


class Clock:
    """Seconds that move only when the test says so."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_time_left_is_the_rest_of_the_budget_at_the_trials_own_pace():
    clock = Clock()
    b = BudgetClock(1000, clock=clock)
    clock.now += 30  # 100 steps in 30 s: 900 left take 270 s
    assert b.progress(100) == {BUDGET_USED: 0.1, TIME_LEFT: 4.5}
    clock.now += 30  # 400 steps in 60 s: 600 left take 90 s
    assert b.progress(400) == {BUDGET_USED: 0.4, TIME_LEFT: 1.5}
    clock.now += 60  # at the budget: nothing left, and never more than all of it
    assert b.progress(1000) == {BUDGET_USED: 1.0, TIME_LEFT: 0.0}
    assert b.progress(1200) == {BUDGET_USED: 1.0, TIME_LEFT: 0.0}


def test_a_resumed_trial_paces_from_its_first_report():
    """Its count did not start at 0 in this session: counting from 0 would make it look
    fast (steps it did before the crash, over this session's seconds)."""
    clock = Clock()
    b = BudgetClock(1000, resumed=True, clock=clock)
    clock.now += 5
    assert b.progress(600) == {BUDGET_USED: 0.6}  # no pace yet
    clock.now += 20  # 100 steps in 20 s: 300 left take 60 s
    assert b.progress(700) == {BUDGET_USED: 0.7, TIME_LEFT: 1.0}


def test_no_time_left_before_any_progress():
    clock = Clock()
    b = BudgetClock(500, clock=clock)
    assert b.progress(0) == {BUDGET_USED: 0.0}


def test_every_experiment_names_a_count_and_a_budget_its_config_has():
    """A budget the config lacks would silently drop the columns from the table."""
    from memtune.experiments import registry

    for name in registry():
        e = get(name)
        assert e.budget, name
        budget = getattr(e.config(), e.budget[1])
        assert isinstance(budget, int) and budget > 0, name


def args(**kw) -> SimpleNamespace:
    return SimpleNamespace(**{"cpus_per_trial": 1.0, "max_concurrent": None, **kw})


def test_the_announced_wall_time_is_the_plans():
    """The default capacity preset: two compiled trials of equal CPU time, one per CPU, so the
    wall time is one trial's (72,000 x 7.0 ms x the compiled step's factor, plus its compile
    time); on one CPU, both in turn."""
    import sys

    from conftest import ROOT

    sys.path.insert(0, str(ROOT / "sweeps"))
    try:
        import capacity
    finally:
        sys.path.pop(0)
    from memtune.tune.grid import expand

    sweep = capacity.PRESETS["default"]
    configs = expand(sweep)
    wall, cpu, slots = expected_wall(sweep, configs, 2, args())
    from memtune.core.cost import COMPILE_SECONDS, COMPILED_FACTOR

    assert all(c["optim"]["compile"] for c in configs)
    one_trial = 72_000 * 7.0 * COMPILED_FACTOR / 1000 + COMPILE_SECONDS
    assert slots == 2 and wall == pytest.approx(one_trial, rel=0.01)
    assert cpu == pytest.approx(2 * wall, rel=0.02)
    one, _, _ = expected_wall(sweep, configs, 1, args())
    assert one == pytest.approx(cpu)
    assert expected_wall(sweep, configs, 8, args(max_concurrent=1))[0] == pytest.approx(cpu)
    note = start_note(sweep, configs, 2, args())
    assert note.startswith(f"expected wall time {one_trial / 60:.1f} min on 2 CPUs, 2 trial(s)")
    assert "minutes left" in note
