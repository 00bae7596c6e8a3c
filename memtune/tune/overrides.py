"""``--set PATH=VALUE``: change a preset's grid from the command line, the way Hydra users expect.

    python sweeps/capacity.py --preset cpu --set seed=[0,1,2,3,4]
    python sweeps/capacity.py --set optim.lr_scale=0.3 --set model.name=[cpu-xxs,cpu-m]

The rules, applied in the order the overrides are given, on top of the preset:

- ``PATH`` is a dotted config path (``optim.lr_scale``, ``data.n_seqs``, ``seed``); an unknown
  one is an error that lists the fields allowed at that level.
- ``VALUE`` is a JSON-like literal: numbers, ``true``/``false``/``null`` (or Python's
  ``True``/``False``/``None``), quoted or bare strings (``cpu-m``), ``{"a": 1}``.
- A list ``[a,b]`` makes a grid axis at PATH, or replaces the one there; a single value fixes
  PATH, replacing any axis there. A field whose value is itself a list takes a list of lists.
- Under a grid axis of whole configs (a preset's ``"model": models(...)``), a single value is set
  in every config of the axis (``model.pos_emb=rope`` changes every model of the grid); a list
  there would nest one axis in another and is refused.
- ``X.name=N`` where X's config class has named presets (``ModelConfig.preset``) means the whole
  preset named N, not a relabelled X: ``model.name=[cpu-xxs,cpu-m]`` is an axis of those two
  models. Later overrides change fields of it (``--set model.name=cpu-m --set model.n_layer=2``).

Every resulting config goes through the experiment's validators (``expand``), so a bad value
fails with the usual one-line error before Ray starts. No Ray is imported here.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import typing
from dataclasses import asdict
from typing import Any

from memtune.core.config import ConfigError

BRACKETS = {"[": "]", "{": "}", "(": ")"}


def _split_top(text: str) -> list[str]:
    """``text`` split at the commas that are outside quotes and brackets."""
    parts, depth, quote, start = [], 0, "", 0
    for i, ch in enumerate(text):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in BRACKETS:
            depth += 1
        elif ch in BRACKETS.values():
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts]


def parse_value(text: str) -> Any:
    """A JSON-like literal: ``0.3``, ``true``, ``null``, ``"a b"``, ``cpu-m``, ``[1,2]``, ``{...}``.

    A bracketed list's items are parsed one by one, so bare words work inside it
    (``[cpu-xxs,cpu-m]``); text that is no literal is taken as a string.
    """
    text = text.strip()
    if text.startswith("[") and text.endswith("]"):
        inner = text[1:-1].strip()
        return [parse_value(item) for item in _split_top(inner)] if inner else []
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return text


def parse_override(text: str) -> tuple[tuple[str, ...], Any]:
    """``"optim.lr_scale=0.3"`` -> (("optim", "lr_scale"), 0.3)."""
    path, sep, value = text.partition("=")
    keys = tuple(path.strip().split("."))
    if not sep or not all(k.isidentifier() for k in keys):
        raise ConfigError(f"--set takes PATH=VALUE with a dotted config path, got {text!r}")
    return keys, parse_value(value)


def _field_class(cls: type | None, key: str) -> type | None:
    """The config dataclass of field ``key`` of ``cls``, or None for a plain value."""
    if cls is None or not dataclasses.is_dataclass(cls):
        return None
    sub = typing.get_type_hints(cls).get(key)
    return sub if isinstance(sub, type) and dataclasses.is_dataclass(sub) else None


def _check_key(node: Any, key: str, where: str) -> None:
    if not isinstance(node, dict):
        raise ConfigError(f"--set: {where} is a value, not a group of fields; it has no {key!r}")
    if key not in node:
        allowed = ", ".join(f"{where}.{k}" if where else k for k in sorted(node))
        name = f"{where}.{key}" if where else key
        raise ConfigError(f"--set: unknown config field {name}; allowed: {allowed}")


def _assign(node: Any, keys: tuple[str, ...], value: Any, cls: type | None, where: str) -> Any:
    """``node`` (a config dict, or a Grid of them) with ``keys`` set to ``value``."""
    from memtune.tune.sweep import Grid, _merge

    if isinstance(node, Grid):
        if isinstance(value, Grid):
            raise ConfigError(
                f"--set {where}.{'.'.join(keys)}: a list under the grid axis {where} would nest "
                f"one axis in another; give one value, or set {where} itself"
            )
        return Grid(_assign(v, keys, value, cls, where) for v in node.values)
    key, rest = keys[0], keys[1:]
    _check_key(node, key, where)
    name = f"{where}.{key}" if where else key
    if rest:
        return {**node, key: _assign(node[key], rest, value, _field_class(cls, key), name)}
    old = node[key]
    if isinstance(value, dict) and isinstance(old, dict):
        value = _merge(old, value)  # a mapping sets the fields it names
    return {**node, key: value}


def _presets(cls: type | None, value: Any, where: str) -> Any:
    """The whole preset config(s) named by ``value``, as dicts (a Grid for a list)."""
    from memtune.tune.sweep import Grid

    if isinstance(value, Grid):
        return Grid(_presets(cls, v, where) for v in value.values)
    if not isinstance(value, str):
        raise ConfigError(f"--set {where}.name: a preset name is a string, got {value!r}")
    return asdict(cls.preset(value))  # type: ignore[union-attr]


def _class_at(cls: type, keys: tuple[str, ...]) -> type | None:
    for k in keys:
        cls = _field_class(cls, k)  # type: ignore[assignment]
    return cls


def apply_overrides(space: dict[str, Any], cls: type, overrides: list[str]) -> dict[str, Any]:
    """The merged config dict of a preset (``_merge(base.to_dict(), space)``) with ``overrides``.

    Args:
        space: the preset's base config dict with its grid axes merged in.
        cls: the experiment's config dataclass, to find config classes with named presets.
        overrides: ``PATH=VALUE`` strings, applied in order.
    Returns:
        The new merged dict; lists became ``Grid`` axes. Raises ConfigError on a bad path.
    """
    from memtune.tune.sweep import Grid

    for text in overrides:
        keys, value = parse_override(text)
        if isinstance(value, list):
            if not value:
                raise ConfigError(f"--set {text}: an empty list leaves no grid point")
            value = Grid(value)
        parent = _class_at(cls, keys[:-1])
        if keys[-1] == "name" and len(keys) > 1 and callable(getattr(parent, "preset", None)):
            keys, value = keys[:-1], _presets(parent, value, ".".join(keys[:-1]))
        space = _assign(space, keys, value, cls, "")
    return space


def settable_paths(config: dict[str, Any], prefix: str = "") -> list[str]:
    """Every dotted path of a config dict, for --help."""
    out = []
    for k, v in config.items():
        if isinstance(v, dict):
            out.extend(settable_paths(v, f"{prefix}{k}."))
        else:
            out.append(f"{prefix}{k}")
    return out
