"""The experiment store's own metadata, below the Ray boundary: what memtune records beside
Tune's files in an experiment folder, how experiments link, and the module paths old stores name.

``memtune.json`` in the experiment folder (local or at a URI) says what was run:

    {"experiment": "capacity", "preset": "default", "overrides": ["seed=[0,1]"],
     "axes": ["model", "seed"], "n_points": 6, "parents": [{"name": ..., "uri": ...}]}

``--resume`` reads it (the preset and overrides the experiment started with), and the analysis
lists it in ``summary.json``. ``parents`` is written by ``--extend``: the new experiment holds
only the grid points its parents had not finished, and ``analysis.common.load.read_store``
reads it together with every experiment it links to, as one experiment. A parent is found as a
sibling folder of that name first (so a store copied or synced elsewhere with its parents keeps
working), then at the URI it had when the link was made. The analysis of several paths writes
``sources`` instead: a folder that joins other experiments and tables.

Which fields may differ between linked experiments: a field one of them sweeps (it differs
between that experiment's own trials; a one-value axis sweeps nothing), and the seed (a
replicate). Any other field that differs means a different protocol, and
``protocol_differences`` names it. ``NOT_IDENTITY`` fields never count:
they say how often a trial checkpoints, not what it measures.

``alias_moved_modules``: Tune pickles parts of a sweep into its store (``tuner.pkl`` holds the
trial namer of ``memtune.sweep``; a threshold search's snapshot holds
``memtune.searchers.ThresholdSearcher`` and ``memtune.threshold_search.GroupSearch``).
``Tuner.restore`` unpickles them by module path, so reading such a store and ``--resume`` of it
need the old paths to name the new modules.

No Ray is imported here: the sweep (``memtune.tune``) writes this metadata and the analyses
(``analysis.common``) read it.
"""

from __future__ import annotations

import importlib
import json
import math
import sys
from pathlib import Path
from typing import Any

META = "memtune.json"
ENDED_NORMALLY = "TERMINATED"  # Tune's status of a trial whose function returned
# Config fields that say how often a trial checkpoints: they never change what it measures.
NOT_IDENTITY = ("checkpoint_every", "checkpoint")
# A replicate, never a protocol: last week's seed 0 and today's seed 1 may always be joined, and so
# may runs whose data draw and initialisation were seeded apart (capacity's data.seed, init_seed)
REPLICATE = ("seed", "data.seed", "init_seed")


def filesystem(uri: str) -> tuple[Any, str]:
    """(pyarrow file system, path in it) of a local path or a URI."""
    from pyarrow import fs as pafs

    if "://" in uri:
        return pafs.FileSystem.from_uri(uri)
    return pafs.LocalFileSystem(), uri


def _exists(uri: str) -> bool:
    from pyarrow import fs as pafs

    fs, path = filesystem(uri)
    try:
        return fs.get_file_info(path).type != pafs.FileType.NotFound
    except OSError:  # e.g. a bucket that does not exist
        return False


def read_meta(uri: str) -> dict[str, Any]:
    """The experiment's ``memtune.json``, or {} (an experiment written before it existed)."""
    fs, path = filesystem(f"{uri.rstrip('/')}/{META}")
    if not _exists(f"{uri.rstrip('/')}/{META}"):
        return {}
    with fs.open_input_stream(path) as f:
        return json.loads(f.read().decode())


def code_version() -> str | None:
    """The git commit of the code running now (``+dirty`` with uncommitted changes to memtune/
    or sweeps/): a sweep records it in memtune.json and ``analysis.results`` beside a summary,
    so that a figure can name the code it came from; None outside git."""
    import subprocess

    root = Path(__file__).resolve().parents[2]  # the checkout holding memtune/

    def git(*a: str) -> str:
        out = subprocess.run(["git", "-C", str(root), *a], capture_output=True, text=True)
        return out.stdout.strip() if out.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD")
    if not commit:
        return None
    return commit + ("+dirty" if git("status", "--porcelain", "--", "memtune", "sweeps") else "")


def write_meta(uri: str, meta: dict[str, Any]) -> None:
    """Write ``memtune.json`` into the experiment folder (made if missing)."""
    fs, path = filesystem(uri.rstrip("/"))
    fs.create_dir(path, recursive=True)
    with fs.open_output_stream(f"{path}/{META}") as f:
        f.write(json.dumps(meta, indent=2).encode())


def sibling(uri: str, name: str) -> str:
    """The folder ``name`` beside ``uri``."""
    return f"{uri.rstrip('/').rsplit('/', 1)[0]}/{name}"


def link(uri: str) -> dict[str, str]:
    """How a child names its parent: by folder name (it moves with it) and by where it was."""
    return {"name": uri.rstrip("/").rsplit("/", 1)[-1], "uri": uri.rstrip("/")}


def parents(uri: str, meta: dict[str, Any] | None = None) -> list[str]:
    """Where each parent of the experiment at ``uri`` is now: its sibling, else its old URI."""
    meta = read_meta(uri) if meta is None else meta
    found = []
    for p in meta.get("parents", []):
        near = sibling(uri, p["name"])
        found.append(near if _exists(near) or not _exists(p["uri"]) else p["uri"])
    return found


def lineage(uri: str) -> list[str]:
    """The experiment at ``uri`` and every experiment it links to, parents first, each once."""
    seen: list[str] = []

    def visit(u: str) -> None:
        if u in seen:
            return
        for p in parents(u):
            visit(p)
        seen.append(u)

    visit(uri.rstrip("/"))
    return seen


def flatten(config: dict[str, Any], prefix: str = "", sep: str = ".") -> dict[str, Any]:
    """{"model": {"name": x}} -> {"model.name": x}: the table's column names (Tune's
    DataFrame uses sep="/")."""
    out = {}
    for k, v in config.items():
        if isinstance(v, dict):
            out.update(flatten(v, f"{prefix}{k}{sep}", sep))
        else:
            out[f"{prefix}{k}"] = v
    return out


def canonical(config: dict[str, Any]) -> str:
    """A config as one string, equal for equal configs: the whole config but NOT_IDENTITY."""
    return json.dumps(
        {k: v for k, v in config.items() if k not in NOT_IDENTITY}, sort_keys=True, default=str
    )


def value_key(v: Any) -> str:
    """A value as text, alike for a config dict and a table read back (None = "" = NaN, as a
    CSV gives them back; 16 = 16.0)."""
    if v is None or v == "" or (isinstance(v, float) and math.isnan(v)):
        return "None"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _swept(field: str, axes: set[str]) -> bool:
    return any(field == a or field.startswith(a + ".") for a in axes)


def protocol_differences(
    parts: dict[str, list[dict[str, Any]]],
    axes: dict[str, set[str]] | None = None,
    pinned: set[str] | frozenset[str] = frozenset(),
) -> list[str]:
    """The fields that tell linked experiments apart as different protocols.

    A field may differ between the parts only where some part sweeps it: it takes two or more
    values among that part's own trials. Declaring an axis is not enough (``--set F=[x]``
    makes a one-value axis of anything). A field ``pinned`` by ``--set`` that differs must
    also lie under an axis that a part declares and varies (``--set model.name=cpu-s`` grows
    the model axis; ``--set max_steps=[3000]`` is a new budget, even where budgets vary with
    the model).

    Args:
        parts: each experiment's label -> its trials' flat configs (``flatten``).
        axes: each part's label -> the config paths it declares as grid axes.
        pinned: dotted paths set by --set for the part being added.
    Returns:
        "field (value in A; value in B)" for every field whose values differ otherwise.
    """
    values: dict[str, dict[str, set[str]]] = {}
    for label, configs in parts.items():
        for config in configs:
            for k, v in config.items():
                values.setdefault(k, {}).setdefault(label, set()).add(value_key(v))
    swept = {k for k, by in values.items() if any(len(s) > 1 for s in by.values())}
    grown = set()  # declared axes that vary in the part that declares them
    for label, declared in (axes or {}).items():
        for a in declared:
            if any(_swept(k, {a}) and len(values[k].get(label, ())) > 1 for k in values):
                grown.add(a)
    # an axis every part declares and one of them varies (a grid of whole model configs): the
    # parts' points along it may differ in any field under it (a tied model beside untied ones)
    shared = set.intersection(*(set(d) for d in axes.values())) if axes else set()
    out = []
    for k, by in sorted(values.items()):
        if k.split(".")[0] in NOT_IDENTITY or k in REPLICATE:
            continue
        if k in swept and (not _swept(k, set(pinned)) or _swept(k, grown)):
            continue
        if _swept(k, grown & shared) and not _swept(k, set(pinned)):
            continue
        if len({v for s in by.values() for v in s}) > 1:
            shown = {lb: ", ".join(sorted(s)) for lb, s in by.items()}
            out.append(f"{k} ({'; '.join(f'{v} in {lb}' for lb, v in shown.items())})")
    return out


MOVED = {
    "memtune.sweep": "memtune.tune.sweep",
    "memtune.searchers": "memtune.tune.searchers",
    "memtune.threshold_search": "memtune.core.bisection",
}


def alias_moved_modules() -> None:
    """Make each old module path import as its new module (only where nothing else took it)."""
    for old, new in MOVED.items():
        sys.modules.setdefault(old, importlib.import_module(new))
