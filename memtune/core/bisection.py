"""The threshold search of one group, as a pure state machine (no Ray): doubling, then bisection.

A group (architecture x budget x depth or heads x seed) has a threshold: the largest dataset
size N its model memorizes exactly. ``GroupSearch`` proposes sizes to probe and takes their
outcomes in any order, any number at a time; ``memtune.tune.searchers.ThresholdSearcher`` runs many
of them under Ray Tune, and ``analysis.threshold`` applies ``resolve`` to finished probes.

The rule, also for non-monotonic outcomes. Memorization should get harder with N, but each
probe draws fresh data and a fresh initialisation, so a size can fail while a larger one
succeeds. The threshold is defined from the set of outcomes alone, never from their order:

    hi = the smallest N that failed (none yet: the bracket is still open)
    threshold = the largest N memorized below hi (0 if none)

that is, the largest N such that every probed size up to it was memorized. A success above a
failure is kept and reported as a flip (``flips``) and in ``threshold_upper`` (the largest N
memorized at all), but it does not move the threshold: one bad draw lowers the answer, it never
hides a failure. The search is done when hi = threshold + 1, or when the cap ``n_max`` was
memorized with no failure at all (``censored``: the true threshold may be larger).

Errored probes. A probe that crashed (out of memory, a killed worker) says nothing about
whether its size can be memorized, so it is no outcome: its size is probed again, up to
``max_errors`` crashes per size. A size that keeps crashing and would still decide the threshold
(it lies above the threshold and below the first failure) leaves the group ``unresolved``:
it is done, and its threshold is only a lower bound. ``analysis.threshold`` applies the same
rule (``unresolved``) to the probes it reads, so both count the same probes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


def resolve(outcomes: dict[int, bool]) -> tuple[int, int | None]:
    """(threshold, hi) from outcomes {N: memorized}: see the module docstring."""
    failed = [n for n, ok in outcomes.items() if not ok]
    hi = min(failed) if failed else None
    below = [n for n, ok in outcomes.items() if ok and (hi is None or n < hi)]
    return (max(below) if below else 0), hi


def unresolved(outcomes: dict[int, bool], failed_sizes: set[int] | list[int]) -> list[int]:
    """Sizes without an outcome (every probe of them crashed or never ended) that would still
    decide the threshold: above it and below the first failure. Empty when the group resolved."""
    lo, hi = resolve(outcomes)
    return sorted(
        n for n in set(failed_sizes) if n not in outcomes and n > lo and (hi is None or n < hi)
    )


def flips(outcomes: dict[int, bool]) -> list[tuple[int, int]]:
    """Non-monotonic pairs (failed N, memorized N' > N), smallest first."""
    failed = sorted(n for n, ok in outcomes.items() if not ok)
    ok = sorted(n for n, good in outcomes.items() if good)
    return [(f, s) for f in failed for s in ok if s > f]


def doubling(start: int, n_max: int) -> list[int]:
    """The bracketing sizes start, 2 start, 4 start, ..., capped by (and ending at) n_max."""
    sizes, n = [], start
    while n < n_max:
        sizes.append(n)
        n *= 2
    return [*sizes, n_max]


@dataclass
class GroupSearch:
    """Doubling from ``start`` to bracket the threshold, then bisection, for one group.

    Several probes may be in flight at once: ``propose`` picks the next size given the ones
    still pending, so k concurrent probes split the open interval k + 1 ways (during
    bracketing they run ahead along the doubling sequence).
    """

    start: int = 1  # first size probed
    n_max: int = 4096  # largest size ever probed; a group memorizing it is censored
    outcomes: dict[int, bool] = field(default_factory=dict)  # N -> memorized
    pending: dict[str, int] = field(default_factory=dict)  # trial id -> N in flight
    n_probes: int = 0  # outcomes received, repeats of a size included
    n_errors: int = 0  # probes that errored (no outcome; their size is probed again)
    max_errors: int = 2  # errored probes of one size before the group is left unresolved
    # Stop bisecting once the first failure is within rel_tol x threshold of it (0: exact).
    # Seeds differ by several percent, so the last few probes of an exact search, the slowest
    # ones (near the threshold), buy precision that the spread over seeds throws away.
    rel_tol: float = 0.0
    errors: dict[int, int] = field(default_factory=dict)  # N -> errored probes of it
    errored: dict[str, int] = field(default_factory=dict)  # trial id -> N of an errored probe

    def __post_init__(self) -> None:
        if not 1 <= self.start <= self.n_max:
            raise ValueError(f"need 1 <= start <= n_max, got start={self.start} n_max={self.n_max}")
        if not 0 <= self.rel_tol < 1:
            raise ValueError(f"need 0 <= rel_tol < 1, got {self.rel_tol}")

    @property
    def bounds(self) -> tuple[int, int | None]:
        return resolve(self.outcomes)

    @property
    def unresolved(self) -> list[int]:
        """Sizes that crashed ``max_errors`` times and would still decide the threshold."""
        gave_up = [n for n, k in self.errors.items() if k >= self.max_errors]
        return unresolved(self.outcomes, gave_up)

    @property
    def done(self) -> bool:
        if self.unresolved:
            return True
        lo, hi = self.bounds
        if hi is None:
            return lo >= self.n_max
        return hi - lo <= max(1, int(self.rel_tol * lo))

    def propose(self) -> int | None:
        """The most informative size not yet probed nor in flight, or None if there is none."""
        if self.done:
            return None
        lo, hi = self.bounds
        busy = set(self.pending.values())
        if hi is None:  # bracketing: the next doubling size above everything known or running
            top = max([lo, *busy])
            for n in doubling(self.start, self.n_max):
                if n > top and n not in self.outcomes:
                    return n
            return None
        # bisection: split the widest gap between lo, the sizes in flight inside (lo, hi), and hi
        cuts = sorted({lo, hi, *(n for n in busy if lo < n < hi)})
        a, b = max(zip(cuts[:-1], cuts[1:], strict=True), key=lambda ab: ab[1] - ab[0])
        return (a + b) // 2 if b - a > max(1, int(self.rel_tol * lo)) else None

    def start_probe(self, trial_id: str, n: int) -> None:
        self.pending[trial_id] = n

    def finish_probe(self, trial_id: str, memorized: bool | None, error: bool = False) -> bool:
        """Record a probe's outcome; None (no result, e.g. stopped before reporting) or an
        error frees the size to be probed again. A trial that errored and is rerun later
        (``Tuner.restore(resume_errored=True)``) still delivers its outcome. Returns False if
        the trial is not one of this group's."""
        n = self.pending.pop(trial_id, None)
        if n is None and not error:
            n = self.errored.pop(trial_id, None)  # an errored probe rerun by --retry-errored
        if n is None:
            return False
        if error:
            self.n_errors += 1
            self.errors[n] = self.errors.get(n, 0) + 1
            self.errored[trial_id] = n
            return True  # a crash is no outcome: it must not lower the threshold
        if memorized is None:
            return True
        self.n_probes += 1
        # a repeated size keeps its first failure: failing once is what the rule looks at
        self.outcomes[n] = self.outcomes.get(n, True) and bool(memorized)
        return True

    def summary(self) -> dict[str, Any]:
        lo, hi = self.bounds
        ok = [n for n, good in self.outcomes.items() if good]
        return {
            "threshold": lo,
            "first_failure": hi,
            "threshold_upper": max(ok) if ok else 0,
            "censored": hi is None and lo >= self.n_max,
            "done": self.done,
            "unresolved": self.unresolved,
            "n_probes": self.n_probes,
            "n_errors": self.n_errors,
            "flips": flips(self.outcomes),
            "outcomes": {str(n): self.outcomes[n] for n in sorted(self.outcomes)},
        }
