"""A sweep's presets as data: grid axes over a base config, and the trial configs they expand to.

A sweep script (``sweeps/<name>.py``) declares each preset as a ``Sweep``: a base config, the
``Grid`` axes that vary parts of it, and optionally ``derive`` (fields a preset derives from
others, per trial: a protocol's schedule from its step budget) and ``keep`` (which points of the
cross product to run). ``expand`` turns a preset into every trial's validated config dict;
``memtune.tune.overrides`` applies ``--set`` on top; ``memtune.tune.sweep`` runs the result on
Ray Tune. No Ray is imported here, so a dry run and the tests plan a sweep without it.

    python -c "import sys; sys.path.insert(0, 'sweeps'); import capacity; \\
        from memtune.tune.grid import expand; print(len(expand(capacity.PRESETS['cpu'])))"
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from memtune.core.config import ConfigError

# (a trial's config dict, the dotted paths --set gave) -> the config with its derived fields
Derive = Callable[[dict[str, Any], frozenset[str]], dict[str, Any]]


@dataclass(frozen=True)
class Grid:
    """One grid axis of a sweep: every value is crossed with every value of the other axes."""

    values: tuple[Any, ...]
    # not shown in trial names and the progress table: an axis that follows another one (the
    # schedule of a step budget), whose values would only repeat it
    hidden: bool = False

    def __init__(self, values: Any, hidden: bool = False) -> None:
        object.__setattr__(self, "values", tuple(values))
        object.__setattr__(self, "hidden", hidden)


@dataclass(frozen=True)
class Sweep:
    """A preset: the base config and the grid axes that override parts of it."""

    base: Any  # a frozen config dataclass with to_dict() and from_dict()
    space: dict[str, Any]  # nested like base.to_dict(); leaves are Grid axes or fixed values
    about: str = ""  # one line for --help: what the preset is for and how long it takes
    # A Searcher factory, (every grid point's config, trials at once) -> Searcher: the grid
    # points become the searcher's groups and it chooses the trials (num_samples=-1).
    # None runs the grid itself, one trial per point.
    search: Callable[[list[dict[str, Any]], int], Any] | None = None
    searched: str = ""  # dotted config key the searcher varies, added to trial names
    # Which grid points to keep (a predicate on the config dict), for grids that are not a
    # full cross product (the threshold table runs some models under one rule only). A plain
    # grid with keep= runs its kept points through Tune's BasicVariantGenerator, since
    # grid_search crosses every axis.
    keep: Callable[[dict[str, Any]], bool] | None = None
    # Fields each trial derives from its other fields, applied to every point after --set and
    # before keep= and validation: a protocol's schedule follows the step budget, and the
    # budget may follow the model (the capacity default). It gets the paths --set gave, and
    # leaves those as the user set them. Such a grid also runs through BasicVariantGenerator.
    derive: Derive | None = None
    # dotted paths of derived fields shown in trial names and the progress table (the budget)
    shown: tuple[str, ...] = ()
    # set by --set (memtune.tune.overrides): the dotted paths it gave, its texts, and what it
    # implied that the user did not write (a field cleared because another one was set)
    given: frozenset[str] = frozenset()
    overrides: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``over`` merged in, recursively for nested dicts."""
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = v
    return out


def axes(space: dict[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Grid]]:
    """(path, Grid) of every grid axis in a merged config dict, in order."""
    found = []
    for k, v in space.items():
        if isinstance(v, Grid):
            found.append(((*prefix, k), v))
        elif isinstance(v, dict):
            found.extend(axes(v, (*prefix, k)))
    return found


def set_path(d: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    """A copy of ``d`` with ``path`` set to ``value`` (missing levels made)."""
    if len(path) == 1:
        return {**d, path[0]: value}
    return {**d, path[0]: set_path(d.get(path[0], {}), path[1:], value)}


def get_path(d: Any, path: tuple[str, ...]) -> Any:
    """The value at ``path`` of a nested dict (KeyError when missing)."""
    for k in path:
        d = d[k]
    return d


def merged(sweep: Sweep) -> dict[str, Any]:
    """The preset's base config dict with its grid axes merged in."""
    return merge(sweep.base.to_dict(), sweep.space)


def points(sweep: Sweep) -> list[dict[str, Any]]:
    """Every point of the grid's cross product with its derived fields, before keep= and
    validation."""
    space = merged(sweep)
    found = axes(space)
    for path, grid in found:
        if not grid.values:
            raise ConfigError(f"grid axis {'.'.join(path)} is empty; give it at least one value")
    out = []
    for combo in itertools.product(*(g.values for _, g in found)):
        d = space
        for (path, _), value in zip(found, combo, strict=True):
            d = set_path(d, path, value)
        out.append(sweep.derive(d, sweep.given) if sweep.derive is not None else d)
    return out


def kept(sweep: Sweep) -> list[dict[str, Any]]:
    """The points keep= keeps (all of them without one). keep= sees a point before validation:
    a rule may pair axes whose cross product holds points that are no valid config."""
    return [d for d in points(sweep) if sweep.keep is None or sweep.keep(d)]


def expand(sweep: Sweep) -> list[dict[str, Any]]:
    """Every trial's config dict, validated: bad values fail here, before Ray starts."""
    configs = [type(sweep.base).from_dict(d).to_dict() for d in kept(sweep)]
    if not configs:
        raise ConfigError("the sweep keeps no grid point; loosen its keep= rule")
    return configs


def axis_paths(sweep: Sweep) -> list[str]:
    """The dotted config paths of the sweep's grid axes (and of the searched key)."""
    paths = [".".join(path) for path, _ in axes(merged(sweep))]
    return paths + ([sweep.searched] if sweep.searched else [])


def shown_paths(sweep: Sweep) -> list[tuple[str, ...]]:
    """The config paths that tell a sweep's trials apart in names and tables: its visible grid
    axes, the derived fields it shows and the searched key."""
    paths = [path for path, g in axes(merged(sweep)) if not g.hidden]
    paths += [tuple(p.split(".")) for p in sweep.shown]
    if sweep.searched:
        paths.append(tuple(sweep.searched.split(".")))
    return paths


def label(value: Any) -> str:
    """A grid value as text: a config dict by its name."""
    return str(value["name"]) if isinstance(value, dict) and "name" in value else str(value)


def point_label(config: dict[str, Any], paths: list[tuple[str, ...]]) -> str:
    """``cpu-s_n_seqs=128_seed=1``: a config by its values at ``paths``."""
    parts = []
    for path in paths:
        try:
            v = get_path(config, path)
        except (KeyError, TypeError):
            continue
        parts.append(label(v) if isinstance(v, dict) else f"{path[-1]}={v}")
    return "_".join(parts)


def asdict(cfg: Any) -> dict[str, Any]:
    """``dataclasses.asdict`` re-exported for sweep scripts that build grid axes of configs."""
    return dataclasses.asdict(cfg)


def follow_budget(
    protocol: Callable[[int], Any],
    base: Any,
    steps_for: Callable[[dict[str, Any]], int] | None = None,
) -> Derive:
    """``derive=`` of a preset built by ``protocol(max_steps)``: each trial's schedule follows
    its own step budget as ``protocol`` derives it.

    The derived fields are the ones ``protocol`` sets from the budget (found by comparing two
    budgets: the decay, the hold, the judging window, the eval interval, the patience...). A
    field --set gave, or that the preset set apart from what ``protocol`` gives at the preset's
    own budget, stays as it is. ``steps_for(config)`` gives each trial its budget (a budget per
    model), unless --set gave ``max_steps``.
    """
    from memtune.core.store import flatten

    probe = [flatten(protocol(n).to_dict()) for n in (144_000, 288_000)]
    fields = [k for k in probe[0] if k != "max_steps" and probe[0][k] != probe[1].get(k)]
    made = flatten(protocol(base.max_steps).to_dict())

    def derive(config: dict[str, Any], given: frozenset[str]) -> dict[str, Any]:
        if steps_for is not None and "max_steps" not in given:
            config = set_path(config, ("max_steps",), steps_for(config))
        steps = config["max_steps"]
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            return config  # the validators name it
        fresh = flatten(protocol(steps).to_dict())
        for f in fields:
            path = tuple(f.split("."))
            if f not in given and get_path(config, path) == made[f]:
                config = set_path(config, path, fresh[f])
        return config

    return derive
