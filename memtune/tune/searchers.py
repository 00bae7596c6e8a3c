"""``ThresholdSearcher``: many memorization-threshold searches at once, as one Ray Tune Searcher.

Each group (one config dict: architecture x budget x depth or heads x seed) runs its own
``memtune.core.bisection.GroupSearch``; the searcher only chooses which group probes next.

Keeping every CPU busy. Tune asks ``suggest`` for a trial whenever it could start one; the
searcher answers while fewer than ``max_concurrent`` probes are in flight (so every suggestion
is made with the newest outcomes, not queued ahead of them). It serves the groups with the
fewest probes in flight first: a group waiting for its probe never blocks the others, and only
when no group is left without a probe does a group get a second (or third) one, which splits
its interval further (k-ary search). Ties go to the group with the fewest finished probes
(round robin), so all groups advance together and many are still open near the end, when
the last CPUs would otherwise idle behind one slow group. There is no round barrier, and
trials are never left without work while any group has an unprobed useful size, so Tune's
reused actors stay busy.

``Searcher.FINISHED`` is returned once every group is done and no probe is in flight; run it
with ``num_samples=-1``. ``save``/``restore`` pickle the whole state (groups, outcomes, trial
ids in flight), so ``Tuner.restore`` continues the search: Tune requeues the trials that were
running with their old ids, and their outcomes land in the right group. ``save`` also writes
``threshold_search.json`` next to the state file: every group's threshold, first failure,
flips (non-monotonic outcomes) and all outcomes, readable without Ray or pickle.

    from memtune.tune.searchers import ThresholdSearcher
    searcher = ThresholdSearcher(group_configs, start=16, n_max=4096, max_concurrent=2)
    tune.Tuner(trainable, tune_config=tune.TuneConfig(search_alg=searcher, num_samples=-1))
"""

from __future__ import annotations

import copy
import json
import os
import pickle
from collections.abc import Callable
from typing import Any

from ray.tune.search import Searcher

from memtune.core.bisection import GroupSearch

SUMMARY_FILE = "threshold_search.json"


def _get(d: dict[str, Any], path: tuple[str, ...]) -> Any:
    for k in path:
        d = d[k]
    return d


def _set(d: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(d)
    node = out
    for k in path[:-1]:
        node = node.setdefault(k, {})
    node[path[-1]] = value
    return out


class ThresholdSearcher(Searcher):
    """Doubling-then-bisection over one integer config key, for many groups concurrently.

    Args:
        groups: one full trial config per group; the searched key is overwritten per probe.
        key: dotted path of the searched size in the config (default ``data.n_pairs``).
        metric: the trial result that says whether the size was learned (truthy = yes).
        start: first size each group probes; doubling goes start, 2 start, ... up to n_max.
        n_max: largest size probed, or a function of the group's config giving it (a cap for
            the groups whose probes are slow); a group that memorizes it is censored.
        max_concurrent: probes in flight at once (the CPU slots); Tune's
            ``max_concurrent_trials`` (a ``ConcurrencyLimiter``) overrides it.
        rel_tol: a group is done once its first failure is within ``rel_tol`` x its threshold
            (0: bisect to the exact size); the threshold is still the largest N memorized.
    """

    def __init__(
        self,
        groups: list[dict[str, Any]],
        key: str = "data.n_pairs",
        metric: str = "memorized",
        start: int = 16,
        n_max: int | Callable[[dict[str, Any]], int] = 4096,
        max_concurrent: int = 1,
        rel_tol: float = 0.0,
    ) -> None:
        super().__init__(metric=metric, mode="max")
        if not groups:
            raise ValueError("ThresholdSearcher needs at least one group")
        if max_concurrent < 1:
            raise ValueError(f"max_concurrent must be >= 1, got {max_concurrent}")
        self.groups = [copy.deepcopy(g) for g in groups]
        self.key = tuple(key.split("."))
        caps = [n_max(g) if callable(n_max) else n_max for g in groups]
        self.searches = [GroupSearch(start=start, n_max=c, rel_tol=rel_tol) for c in caps]
        self.max_concurrent = max_concurrent
        self.trial_group: dict[str, int] = {}  # every trial id suggested -> its group
        self.log: list[dict[str, Any]] = []  # every outcome in arrival order

    # -- Tune's Searcher API ---------------------------------------------------------------

    def set_search_properties(
        self, metric: str | None, mode: str | None, config: dict, **spec: Any
    ) -> bool:
        """The groups come from the constructor; Tune's param_space only adds fixed values."""
        if metric and metric != self._metric:
            return False
        return True

    def set_max_concurrency(self, max_concurrent: int) -> bool:
        """Take Tune's ``max_concurrent_trials``: the searcher limits concurrency itself."""
        self.max_concurrent = max_concurrent
        return True

    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:
        if self.is_done():
            return Searcher.FINISHED
        if self.n_in_flight() >= self.max_concurrent:
            return None
        # fewest probes in flight first, then the fewest finished (round robin), then order
        candidates = [
            (len(s.pending), s.n_probes, i, n)
            for i, s in enumerate(self.searches)
            if (n := s.propose()) is not None
        ]
        if not candidates:
            return None  # every open group is waiting for its probes; nothing useful to add
        *_, i, n = min(candidates)
        self.searches[i].start_probe(trial_id, n)
        self.trial_group[trial_id] = i
        return _set(self.groups[i], self.key, n)

    def on_trial_complete(
        self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False
    ) -> None:
        i = self.trial_group.get(trial_id)
        if i is None:
            return
        s = self.searches[i]
        n = s.pending.get(trial_id)
        value = None if not result or self._metric not in result else bool(result[self._metric])
        if s.finish_probe(trial_id, value, error=error):
            self.log.append({"group": i, "trial_id": trial_id, "n": n, "memorized": value,
                             "error": error})  # fmt: skip

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as f:
            pickle.dump(self.__dict__, f)
        _write_json(os.path.join(os.path.dirname(checkpoint_path), SUMMARY_FILE), self.summary())

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as f:
            self.__dict__.update(pickle.load(f))

    # -- Progress and results --------------------------------------------------------------

    def n_in_flight(self) -> int:
        return sum(len(s.pending) for s in self.searches)

    def is_done(self) -> bool:
        return all(s.done for s in self.searches) and self.n_in_flight() == 0

    def summary(self) -> dict[str, Any]:
        """Every group's config and search result (threshold, flips, outcomes)."""
        return {
            "key": ".".join(self.key),
            "metric": self._metric,
            "groups": [
                {"config": g, **s.summary()}
                for g, s in zip(self.groups, self.searches, strict=True)
            ],
            "log": self.log,
        }


def _write_json(path: str, obj: Any) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1, default=str)
    os.replace(tmp, path)
