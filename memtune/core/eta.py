"""How far a trial is through its budget and how long it has left, from its own pace.

A user watching a sweep cannot tell a slow machine from a hang by the step count alone: the
progress table shows, per trial, the share of its budget done (``budget_used``) and the minutes
left at the pace the trial itself has kept so far (``time_left_min``). The pace is measured on
the trial's own clock, not taken from the cost table, so it is right on a machine slower or
busier than the one the table was measured on. A trial that stops on its verdict ends sooner:
the time left is the most it can take.

No Ray here: ``memtune.tune.trainable`` adds these metrics to each report.
"""

from __future__ import annotations

import time
from collections.abc import Callable

BUDGET_USED = "budget_used"  # share of the budget done, 0 to 1
TIME_LEFT = "time_left_min"  # minutes left at the trial's own pace


class BudgetClock:
    """The share of a budget done and the time left, for one trial (or one resumed session).

    The pace is counted from the session's start when it starts from zero (its set-up time is
    then part of the pace: pessimistic for the first report, exact in the limit), and from its
    first report when it resumes from a checkpoint (the count it resumed at is not known before).

    Args:
        budget: the trial's budget in the units of the count it reports (steps, epochs).
        resumed: whether the session continues a checkpointed trial.
        clock: seconds, monotonic (``time.perf_counter``; a test passes its own).
    """

    def __init__(
        self, budget: float, resumed: bool = False, clock: Callable[[], float] = time.perf_counter
    ) -> None:
        self.budget, self.clock = float(budget), clock
        self.base: tuple[float, float] | None = None if resumed else (0.0, clock())

    def progress(self, count: float) -> dict[str, float]:
        """The metrics to add to a report made at ``count`` (steps or epochs done so far).

        Returns:
            ``budget_used`` (rounded to 0.001) and, once a pace is known, ``time_left_min``
            (rounded to 0.1 min; 0 at or past the budget).
        """
        now = self.clock()
        out = {BUDGET_USED: round(min(1.0, count / self.budget), 3)}
        if self.base is None:  # resumed: this report starts the pace
            self.base = (float(count), now)
            return out
        done, elapsed = count - self.base[0], now - self.base[1]
        if done > 0 and elapsed > 0:
            left = max(0.0, self.budget - count) * elapsed / done
            out[TIME_LEFT] = round(left / 60, 1)
        return out
