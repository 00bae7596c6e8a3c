"""``--set PATH=VALUE``: change a preset's grid from the command line, the way Hydra users expect.

    python sweeps/capacity.py --preset cpu --set seed=[0,1,2,3,4]
    python sweeps/capacity.py --set optim.lr_scale=0.3 --set model.name=[cpu-xxs,cpu-m]

The rules, applied in the order the overrides are given, on top of the preset:

- ``PATH`` is a dotted config path (``optim.lr_scale``, ``data.n_seqs``, ``seed``); an unknown
  one is an error that lists the fields allowed at that level.
- ``VALUE`` is parsed by OmegaConf's dot-list grammar (Hydra's): numbers, ``true``/``false``/
  ``null``, quoted or bare strings (``cpu-m``), ``[a,b]``, ``{a: 1}``; Python's ``None`` is null.
  Each value is type-checked against the config dataclass by OmegaConf's structured config, so
  ``optim.lr=true`` or ``max_steps=1e3`` is refused: a bool is never a number.
- A list ``[a,b]`` makes a grid axis at PATH, or replaces the one there; a single value fixes
  PATH, replacing any axis there. A field whose value is itself a list takes a list of lists.
- Under a grid axis of whole configs (a preset's ``"model": models(...)``), a single value is set
  in every config of the axis (``model.pos_emb=rope`` changes every model of the grid); a list
  there would nest one axis in another and is refused.
- ``X.name=N`` where X's config class has named presets (``ModelConfig.preset``) means the whole
  preset named N, not a relabelled X: ``model.name=[cpu-xxs,cpu-m]`` is an axis of those two
  models. Axes the preset had inside X (the vocab preset's ``model.tie_embeddings``) are kept.
  Later overrides change fields of it (``--set model.name=cpu-m --set model.n_layer=2``).
- A field that another field decides (``DECIDED_BY`` of the config class: ``data.n_seqs`` is
  decided by ``knee_multiple`` when that is > 0) wins when set: the other field is cleared, and
  the sweep says so; setting both is refused, naming both.
- A preset whose ``keep`` rule drops every point an override leaves is refused, naming the
  override.

Every resulting config goes through the experiment's validators (``expand``), so a bad value
fails with the usual one-line error before Ray starts. No Ray is imported here.
"""

from __future__ import annotations

import dataclasses
import functools
import typing
from dataclasses import asdict
from typing import Any

from memtune.core.config import ConfigError
from memtune.tune.grid import Grid, Sweep, axes, kept, merge, merged, set_path

NULLS = ("None",)  # Python's spelling of null, which OmegaConf's grammar reads as a string


def parse_value(text: str) -> Any:
    """A value in OmegaConf's dot-list grammar: ``0.3``, ``true``, ``null``, ``'a b'``,
    ``cpu-m``, ``[1,2]``, ``{a: 1}``; ``""`` stays the empty string, ``None`` is null."""
    from omegaconf import OmegaConf
    from omegaconf.errors import GrammarParseError

    text = text.strip()
    if text == "":
        return ""
    if text in NULLS:
        return None
    try:
        value = OmegaConf.to_container(OmegaConf.from_dotlist([f"v={text}"]))["v"]  # type: ignore[index]
    except GrammarParseError:
        return text  # no literal: the text itself
    return _nulls(value)


def _nulls(value: Any) -> Any:
    if isinstance(value, list):
        return [_nulls(v) for v in value]
    if isinstance(value, dict):
        return {k: _nulls(v) for k, v in value.items()}
    return None if value in NULLS else value


def parse_override(text: str) -> tuple[tuple[str, ...], Any]:
    """``"optim.lr_scale=0.3"`` -> (("optim", "lr_scale"), 0.3)."""
    path, sep, value = text.partition("=")
    keys = tuple(path.strip().split("."))
    if not sep or not all(k.isidentifier() for k in keys):
        raise ConfigError(f"--set takes PATH=VALUE with a dotted config path, got {text!r}")
    return keys, parse_value(value)


@functools.cache
def _schema(cls: type) -> Any:
    """The OmegaConf structured config of a config dataclass (its fields' types)."""
    from omegaconf import OmegaConf

    return OmegaConf.structured(cls)


def _kind(cls: type | None, keys: tuple[str, ...]) -> str:
    """What the field at ``keys`` takes, in words: "an integer", "a number or null"..."""
    owner = class_at(cls, keys[:-1])
    hint = typing.get_type_hints(owner).get(keys[-1]) if owner else None
    if hint is None:
        return "a value of its type"
    args = [a for a in typing.get_args(hint) if a is not type(None)] or [hint]
    words = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}
    text = " or ".join(words.get(a, getattr(a, "__name__", str(a))) for a in args)
    return text + (" or null" if type(None) in typing.get_args(hint) else "")


def check_type(cls: type, keys: tuple[str, ...], value: Any, text: str) -> None:
    """Refuse ``value`` at ``keys`` unless OmegaConf's structured config of ``cls`` takes it."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    nested: Any = value
    for k in reversed(keys):
        nested = {k: nested}
    try:
        OmegaConf.merge(_schema(cls), OmegaConf.create(nested))
    except OmegaConfBaseException:
        path = ".".join(keys)
        raise ConfigError(
            f"--set {text}: {path} must be {_kind(cls, keys)}, got {value!r}"
        ) from None


def _field_class(cls: type | None, key: str) -> type | None:
    """The config dataclass of field ``key`` of ``cls``, or None for a plain value."""
    if cls is None or not dataclasses.is_dataclass(cls):
        return None
    sub = typing.get_type_hints(cls).get(key)
    return sub if isinstance(sub, type) and dataclasses.is_dataclass(sub) else None


def class_at(cls: type | None, keys: tuple[str, ...]) -> type | None:
    """The config dataclass at ``keys`` below ``cls`` (None below a plain value)."""
    for k in keys:
        cls = _field_class(cls, k)
    return cls


def _check_key(node: Any, key: str, where: str) -> None:
    if not isinstance(node, dict):
        raise ConfigError(f"--set: {where} is a value, not a group of fields; it has no {key!r}")
    if key not in node:
        allowed = ", ".join(f"{where}.{k}" if where else k for k in sorted(node))
        name = f"{where}.{key}" if where else key
        raise ConfigError(f"--set: unknown config field {name}; allowed: {allowed}")


def _assign(node: Any, keys: tuple[str, ...], value: Any, where: str) -> Any:
    """``node`` (a config dict, or a Grid of them) with ``keys`` set to ``value``."""
    if isinstance(node, Grid):
        if isinstance(value, Grid):
            raise ConfigError(
                f"--set {where}.{'.'.join(keys)}: a list under the grid axis {where} would nest "
                f"one axis in another; give one value, or set {where} itself"
            )
        return Grid(_assign(v, keys, value, where) for v in node.values)
    key, rest = keys[0], keys[1:]
    _check_key(node, key, where)
    name = f"{where}.{key}" if where else key
    if rest:
        return {**node, key: _assign(node[key], rest, value, name)}
    old = node[key]
    if isinstance(value, dict) and isinstance(old, dict):
        value = merge(old, value)  # a mapping sets the fields it names
    return {**node, key: value}


def _node_at(space: dict[str, Any], keys: tuple[str, ...]) -> Any:
    """The part of the merged space at ``keys``, or None below a grid axis or a missing key."""
    node: Any = space
    for k in keys:
        if not isinstance(node, dict) or k not in node:
            return None
        node = node[k]
    return node


def _presets(cls: type | None, value: Any, where: str) -> Any:
    """The whole preset config(s) named by ``value``, as dicts (a Grid for a list)."""
    if isinstance(value, Grid):
        return Grid(_presets(cls, v, where) for v in value.values)
    if not isinstance(value, str):
        raise ConfigError(f"--set {where}.name: a preset name is a string, got {value!r}")
    return asdict(cls.preset(value))  # type: ignore[union-attr]


def _with_inner_axes(old: Any, new: Any, where: str) -> Any:
    """The preset(s) ``new`` replacing ``old`` with the grid axes ``old`` held inside kept: the
    vocab preset's tying axis survives ``model.name=cpu-xs``."""
    inner = axes(old) if isinstance(old, dict) else []
    if not inner:
        return new
    names = ", ".join(f"{where}.{'.'.join(p)}" for p, _ in inner)
    if isinstance(new, Grid):
        raise ConfigError(
            f"--set {where}.name: a list of presets would drop the preset's axis {names} inside "
            f"{where} (axes do not nest); give one preset, or set {names} to one value first"
        )
    for path, grid in inner:
        new = set_path(new, path, grid)
    return new


def _leaf_paths(keys: tuple[str, ...], value: Any) -> list[str]:
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _leaf_paths((*keys, k), v)]
    return [".".join(keys)]


def _values(node: Any) -> list[Any]:
    return list(node.values) if isinstance(node, Grid) else [node]


def _text(value: Any) -> str:
    return "null" if value is None else repr(value)


def _decided(space: dict[str, Any], cls: type, given: set[str], notes: list[str]) -> dict[str, Any]:
    """Apply the config class's ``DECIDED_BY``: a field the user set wins over the field that
    would decide it (cleared, with a note); setting both is refused."""
    for field, (decider, off) in decided_by(cls).items():
        if field not in given:
            continue
        keys = tuple(decider.split("."))
        values = _values(_node_at(space, keys))
        if all(v == off for v in values):
            continue
        if decider in given:
            raise ConfigError(
                f"--set {field} and --set {decider}: {decider} = {values[0]!r} decides {field} "
                f"(it replaces it unless {decider} is {_text(off)}); set one of them"
            )
        space = set_path(space, keys, off)
        notes.append(
            f"--set {field} clears {decider} (was {', '.join(map(repr, values))}; "
            f"it decides {field} unless it is {_text(off)})"
        )
    return space


def decided_by(cls: type | None, prefix: str = "") -> dict[str, tuple[str, Any]]:
    """``DECIDED_BY`` of a config class and of the config classes inside it, by dotted path."""
    if cls is None or not dataclasses.is_dataclass(cls):
        return {}
    out = {prefix + f: (prefix + d, off) for f, (d, off) in getattr(cls, "DECIDED_BY", {}).items()}
    for f in dataclasses.fields(cls):
        out.update(decided_by(_field_class(cls, f.name), f"{prefix}{f.name}."))
    return out


def apply_overrides(
    space: dict[str, Any], cls: type, overrides: list[str]
) -> tuple[dict[str, Any], set[str], list[str]]:
    """The merged config dict of a preset (``merged(sweep)``) with ``overrides``.

    Args:
        space: the preset's base config dict with its grid axes merged in.
        cls: the experiment's config dataclass: the types of its fields, its named presets,
            and ``DECIDED_BY``.
        overrides: ``PATH=VALUE`` strings, applied in order.
    Returns:
        (the new merged dict, lists become ``Grid`` axes; the dotted paths the overrides set;
        notes on what they implied). Raises ConfigError on a bad path or value.
    """
    given: set[str] = set()
    notes: list[str] = []
    for text in overrides:
        keys, value = parse_override(text)
        _assign(space, keys, None, "")  # an unknown path first, with the fields allowed there
        items = value if isinstance(value, list) else [value]
        for item in items:
            check_type(cls, keys, item, text)
        if isinstance(value, list):
            if not value:
                raise ConfigError(f"--set {text}: an empty list leaves no grid point")
            value = Grid(value)
        given.update(_leaf_paths(keys, value if not isinstance(value, Grid) else None))
        parent = class_at(cls, keys[:-1])
        if keys[-1] == "name" and len(keys) > 1 and callable(getattr(parent, "preset", None)):
            where = ".".join(keys[:-1])
            keys, value = keys[:-1], _presets(parent, value, where)
            value = _with_inner_axes(_node_at(space, keys), value, where)
            given.add(where)
        space = _assign(space, keys, value, "")
    return _decided(space, cls, given, notes), given, notes


def with_overrides(sweep: Sweep, overrides: list[str] | None) -> Sweep:
    """The preset with ``--set PATH=VALUE`` overrides applied (see the module docstring)."""
    if not overrides:
        return sweep
    cls = type(sweep.base)
    space, given, notes = apply_overrides(merged(sweep), cls, overrides)
    out = dataclasses.replace(
        sweep, space=space, given=frozenset(given), overrides=tuple(overrides), notes=tuple(notes)
    )
    if sweep.keep is not None and not kept(out):
        _blame_keep(sweep, overrides)
    return out


def _blame_keep(sweep: Sweep, overrides: list[str]) -> None:
    """Name the override after which the preset's keep rule keeps no point."""
    before = len(kept(sweep))
    for i in range(len(overrides)):
        part = with_overrides(dataclasses.replace(sweep, keep=None), overrides[: i + 1])
        if not kept(dataclasses.replace(part, keep=sweep.keep)):
            raise ConfigError(
                f"--set {overrides[i]}: the preset runs only some points of its grid (its keep "
                f"rule kept {before}), and none of the points left after this override is one "
                "of them; override other fields, or pick a preset without a keep rule"
            )


def settable_paths(config: dict[str, Any], prefix: str = "") -> list[str]:
    """Every dotted path of a config dict, for --help."""
    out = []
    for k, v in config.items():
        if isinstance(v, dict):
            out.extend(settable_paths(v, f"{prefix}{k}."))
        else:
            out.append(f"{prefix}{k}")
    return out


__all__ = [
    "apply_overrides",
    "check_type",
    "class_at",
    "decided_by",
    "parse_override",
    "parse_value",
    "settable_paths",
    "with_overrides",
]
