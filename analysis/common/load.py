"""Read results into one tidy table: Tune's experiment store or a plain CSV/parquet file.

One row per trial with its final metrics; config columns are named by their path in the
config dataclasses (``model.name``, ``data.n_seqs``, ``seed``). A plain table with those column
names (a W&B export, a paper's table) goes through the same fitters. Reading never trains and
never writes into the experiment.

Which trials count, in every analysis: only trials that ended normally (Tune status TERMINATED)
are fitted. A trial that errored, or was still running, paused or pending when the sweep stopped,
has partial metrics (or none); ``finished_trials`` sets it aside, and the analysis names it with
its status, counts it in its summary and says the experiment is incomplete. A plain table
without a ``status`` column is taken as finished.

Several experiments as one: ``read_store`` reads an experiment together with the experiments it
links to (``--extend`` writes ``parents`` into its ``memtune.json``; ``memtune.core.store``),
and a folder whose ``memtune.json`` lists ``sources`` (``python -m analysis.<name> PATH PATH``
writes one) as the join of those experiments and tables. Their tables are concatenated (a trial
read twice counts once), and they are refused, naming the fields, when they differ in a config
field none of them sweeps: different protocols are never joined.

Which trials belong together: ``check_one_experiment`` refuses a table whose groups differ in
any config field other than the ones an analysis varies (the swept size, the seed), so trials
that differ in anything else (lr, ``pos_emb``, ``seq_len``...) are never merged into one fit.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from typing import Any

import pandas as pd

from analysis.common.store import Store
from memtune.core.cli import UsageError
from memtune.core.store import (
    ENDED_NORMALLY,
    NOT_IDENTITY,
    flatten,
    lineage,
    protocol_differences,
    read_meta,
    value_key,
)

TABLE_SUFFIXES = {".csv", ".parquet", ".pq"}


def load_table(path: str | os.PathLike) -> pd.DataFrame:
    """A results table from an experiment directory, or a .csv / .parquet file (local or URI)."""
    p = Store.open(path)
    if p.suffix in TABLE_SUFFIXES:
        if not p.is_file():
            raise UsageError(f"results table {p} does not exist")
        df = p.read_table()
        if df.empty:
            raise UsageError(f"results table {p} has no rows")
        return df
    return load_experiment(p)


def _is_experiment(p: Store) -> bool:
    return bool(p.glob("experiment_state-*.json"))


def open_experiment(path: str | os.PathLike | Store) -> Store:
    """The experiment folder at ``path`` (local or URI), or UsageError saying what is wrong."""
    p = path if isinstance(path, Store) else Store.open(path)
    if not p.exists():
        raise UsageError(f"path {p} does not exist; give an experiment directory or a table")
    if not p.is_dir():
        raise UsageError(
            f"{p} is neither an experiment directory nor a {sorted(TABLE_SUFFIXES)} table"
        )
    if not _is_experiment(p) and not read_meta(p.uri).get("sources"):
        raise UsageError(f"{p} holds no Tune experiment (no experiment_state-*.json)")
    return p


def rename_config_columns(df: pd.DataFrame) -> pd.DataFrame:
    """Tune's ``config/model/name`` columns named by their config path, ``model.name``."""
    return df.rename(
        columns=lambda c: (
            c.removeprefix("config/").replace("/", ".") if c.startswith("config/") else c
        )
    )


@dataclass(frozen=True)
class StoredExperiment:
    """Tune experiments read once: their trials, and the final row of each as a tidy table.

    One experiment, or several read as one (its ``--extend`` lineage, or a join of sources);
    rows of plain tables among the sources are in ``table`` and ``history()`` but have no trial.
    """

    location: Store  # the experiment folder (or join folder), local or at a URI
    table: pd.DataFrame  # one row per trial: final metrics, config columns, status, trial
    analyses: tuple[Any, ...]  # ray.tune.ExperimentAnalysis of each experiment read
    rows: pd.DataFrame | None = None  # rows of plain tables among the sources, if any

    @property
    def trials(self) -> list[Any]:
        return [t for ea in self.analyses for t in ea.trials]

    def status(self) -> dict[str, str]:
        return {t.trial_id: t.status for t in self.trials}

    def history(self) -> pd.DataFrame:
        """Every report of every trial (``trial_id``, ``status``, config columns), in order."""
        frames = [
            df.assign(trial_id=tid)
            for ea in self.analyses
            for tid, df in ea.trial_dataframes.items()
            if not df.empty
        ]
        if not frames and self.rows is None:
            raise UsageError(f"experiment {self.location} has no reported results yet")
        final = self.table
        df = rename_config_columns(pd.concat(frames, ignore_index=True)) if frames else None
        if df is not None:
            df["status"] = df["trial_id"].map(self.status())
            trial = dict(zip(final["trial_id"], final["trial"], strict=True))
            df["trial"] = df["trial_id"].map(trial)
        reported = set(df["trial_id"]) if df is not None else set()
        ids = final["trial_id"] if "trial_id" in final else pd.Series(dtype=object)
        silent = final[~ids.isin(reported) & ids.isin(self.status())]  # never reported
        out = [x for x in (df, self.rows) if x is not None]
        columns = set().union(*(x.columns for x in out))
        out.append(silent[[c for c in silent if c in columns]])
        return pd.concat(out, ignore_index=True)


def load_experiment(path: str | os.PathLike | Store) -> pd.DataFrame:
    """Final metrics of every trial of a Tune experiment, local or at a URI (s3://...)."""
    return read_store(path).table


def read_store(path: str | os.PathLike | Store) -> StoredExperiment:
    """The experiment at ``path`` read once, checked: a half-written or corrupted store fails
    in one line. An extended experiment is read with every experiment it extends, and a join
    folder as the join of its sources (see the module docstring)."""
    p = open_experiment(path)
    meta = read_meta(p.uri)
    sources = meta.get("sources") or [p.uri]
    stores: list[Store] = []
    tables: list[tuple[str, pd.DataFrame]] = []
    for src in sources:
        s = Store.open(src)
        if s.suffix in TABLE_SUFFIXES:
            tables.append((s.name, load_table(s)))
            continue
        for uri in lineage(open_experiment(s).uri):
            if all(uri != x.uri for x in stores):
                stores.append(Store.open(uri))
    if len(stores) == 1 and not tables:
        return _read_one(stores[0])
    return _join(p, [_read_one(s) for s in stores], tables, meta.get("experiment"))


def _join(
    location: Store,
    parts: list[StoredExperiment],
    tables: list[tuple[str, pd.DataFrame]],
    experiment: str | None,
) -> StoredExperiment:
    """Experiments and tables as one, refused when they differ in a field none of them sweeps."""
    columns: set[str] = set()
    for part in parts:
        for t in part.trials:
            columns |= set(flatten(t.config))
    if experiment:
        from memtune.experiments import get

        columns |= set(flatten(get(experiment).config().to_dict()))
    named = [(part.location.name, part.table) for part in parts] + tables
    configs = {
        label: df[[c for c in df if c in columns]].to_dict(orient="records") for label, df in named
    }
    axes = {part.location.name: set(read_meta(part.location.uri).get("axes", [])) for part in parts}
    differ = protocol_differences(configs, axes)
    if differ:
        raise UsageError(
            f"{location}: its experiments differ in {', '.join(differ)}: different protocols "
            "are never joined; analyse them apart (a field meant to vary takes two or more "
            "values in one of them: --set FIELD=[...])"
        )
    table = pd.concat([df for _, df in named], ignore_index=True)
    if "trial_id" in table:  # a trial given twice (a store and its own table) counts once
        table = table[table["trial_id"].isna() | ~table["trial_id"].duplicated()]
    table = drop_superseded(table, [c for c in table if c in columns])
    rows = pd.concat([df for _, df in tables], ignore_index=True) if tables else None
    analyses = tuple(ea for part in parts for ea in part.analyses)
    return StoredExperiment(location, table.reset_index(drop=True), analyses, rows)


def drop_superseded(table: pd.DataFrame, config: list[str]) -> pd.DataFrame:
    """The rows without the unfinished trials whose config another part ran to the end.

    A stopped sweep grown by ``--extend`` runs its pending grid points in the extension: the
    parent's copy of such a point never ran, and is no missing trial of the joined experiment.
    An unfinished trial with no finished twin stays, to be named as unfinished.

    Args:
        table: the joined rows, with ``status``.
        config: the config columns that identify a grid point.
    """
    if "status" not in table or not config:
        return table
    rows = table[config].itertuples(index=False)  # a grid point: its config as one key
    key = pd.Series([repr(tuple(r)) for r in rows], index=table.index)
    done = table["status"] == ENDED_NORMALLY
    return table[done | ~key.isin(set(key[done]))]


def _read_one(p: Store) -> StoredExperiment:
    """One Tune experiment, checked."""
    from ray.tune import ExperimentAnalysis

    from memtune.core.store import alias_moved_modules

    alias_moved_modules()  # the trials of stores written before the package layout name them
    # Tune logs unreadable trials as multi-line warnings; _check_trial_files names them instead
    logging.getLogger("ray.tune.analysis.experiment_analysis").setLevel(logging.ERROR)
    try:
        ea = ExperimentAnalysis(p.uri)
        df = ea.dataframe()
    except Exception as e:  # a half-written or corrupted store
        raise UsageError(f"cannot read experiment {p}: {type(e).__name__}: {e}") from None
    if df.empty or "trial_id" not in df:
        raise UsageError(f"experiment {p} has no reported results yet")
    for t in ea.trials:
        _check_trial_files(p.at(t.path))
    # trials that never reported (an error or a kill before the first report) are rows too:
    # config and status, no metrics, so that they are named rather than silently missing
    reported = set(df["trial_id"])
    silent = [
        {
            "trial_id": t.trial_id,
            **{f"config/{k}": v for k, v in flatten(t.config, sep="/").items()},
        }
        for t in ea.trials
        if t.trial_id not in reported
    ]
    if silent:
        df = pd.concat([df, pd.DataFrame(silent)], ignore_index=True)
    df["status"] = df["trial_id"].map({t.trial_id: t.status for t in ea.trials})
    df["trial"] = df["trial_id"].map({t.trial_id: _trial_name(t.path) for t in ea.trials})
    return StoredExperiment(p, rename_config_columns(df).reset_index(drop=True), (ea,))


def _trial_name(path: str) -> str:
    return str(path).rstrip("/").rsplit("/", 1)[-1]


def finished_trials(df: pd.DataFrame) -> tuple[pd.DataFrame, list[dict[str, str]]]:
    """The rows of trials that ended normally, and {trial, status} of every other trial.

    Args:
        df: rows of ``load_experiment`` (or any table with ``status`` and ``trial_id``).
    Returns:
        (rows to fit, unfinished trials sorted by name); a table without ``status`` is whole.
    """
    if "status" not in df:
        return df, []
    ok = df["status"] == ENDED_NORMALLY
    names = _trial_names(df)
    others = pd.DataFrame({"trial": names[~ok], "status": df.loc[~ok, "status"].astype(str)})
    others = others.drop_duplicates("trial").sort_values("trial")
    return df[ok], others.to_dict(orient="records")


def _trial_names(df: pd.DataFrame) -> pd.Series:
    """Each row's trial: its folder name, else its id, else (a plain table) its row number."""
    for key in ("trial", "trial_id"):
        if key in df:
            return df[key].astype(str)
    return pd.Series([f"row {i}" for i in range(len(df))], index=df.index)


def incomplete_note(unfinished: list[dict[str, str]], n_trials: int) -> str:
    """One line saying the experiment is incomplete and naming each unfinished trial."""
    names = ", ".join(f"{u['trial']} ({u['status']})" for u in unfinished)
    return (
        f"experiment incomplete: {len(unfinished)} of {n_trials} trial(s) did not end normally "
        f"and are not fitted: {names}; resume the sweep (--resume, --retry-errored) to finish them"
    )


def completeness(df: pd.DataFrame, unfinished: list[dict[str, str]]) -> dict:
    """The summary fields every analysis writes: trials fitted, unfinished, complete or not."""
    n_fitted = int(_trial_names(df).nunique())
    return {
        "complete": not unfinished,
        "n_trials_fitted": n_fitted,
        "n_trials_unfinished": len(unfinished),
        "unfinished_trials": unfinished,
    }


def with_incomplete(message: str, unfinished: list[dict[str, str]], n_trials: int) -> str:
    """An analysis' error message, followed by the incompleteness note when there is one."""
    return f"{message} ({incomplete_note(unfinished, n_trials)})" if unfinished else message


def config_columns(df: pd.DataFrame, config: Any) -> list[str]:
    """The table's columns that are fields of the config dataclass ``config`` (dotted paths),
    or that are in ``config`` when it is a list of column names."""
    names = config if isinstance(config, list) else flatten(config().to_dict())
    return [c for c in names if c in df]


def check_one_experiment(
    df: pd.DataFrame, config: Any, by: list[str], vary: list[str], what: str
) -> None:
    """Refuse a table whose groups (rows with equal ``by``) mix different experiments.

    Within one group only the ``vary`` columns (the swept size, the seed...) may differ; any
    other config field that differs (lr, pos_emb, seq_len...) would merge two experiments into
    one fit, so it is named in a UsageError instead.

    Args:
        df: the rows to analyse.
        config: the experiment's config dataclass (its fields are the config columns), or the
            list of columns that describe a trial.
        by: columns that label a group ([] for one group: the whole table).
        vary: config columns allowed to differ within a group.
        what: the analysis, for the message.
    """
    fixed = [c for c in config_columns(df, config) if c not in [*by, *vary, *NOT_IDENTITY]]
    groups = df.groupby(by, sort=False, dropna=False) if by else [((), df)]
    for key, d in groups:
        differ = [c for c in fixed if d[c].astype(str).nunique() > 1]
        if differ:
            label = ", ".join(f"{c}={v}" for c, v in zip(by, key, strict=True)) or "the table"
            raise UsageError(
                f"{what}: trials of {label} differ in {', '.join(differ)} (not only in "
                f"{', '.join(vary)}): they are different experiments; analyse them apart "
                "(filter the table) or give them different names"
            )


def check_across(
    df: pd.DataFrame, config: Any, allowed: tuple[str, ...] | list[str], what: str
) -> None:
    """Refuse a table whose trials differ in a config field outside ``allowed`` (dotted paths,
    a path covering the fields below it), naming each field and its values: one protocol
    across the whole table, not only within each group.

    Args:
        df: the rows to analyse.
        config: the experiment's config dataclass (its fields are the config columns).
        allowed: fields (or groups of fields) that may differ between trials.
        what: the analysis, for the message.
    """
    ok = tuple(allowed) + NOT_IDENTITY + ("seed",)
    fixed = [
        c
        for c in config_columns(df, config)
        if not any(c == a or c.startswith(a + ".") for a in ok)
    ]
    differ = []
    for c in fixed:
        # as the join compares them (16 = 16.0); a missing value is no protocol, as within groups
        values = sorted(set(df[c].dropna().map(value_key)))
        if len(values) > 1:
            differ.append(f"{c} ({', '.join(values[:4])})")
    if differ:
        raise UsageError(
            f"{what}: the trials differ in {', '.join(differ)}: one table is one protocol; "
            "analyse them apart (filter the table)"
        )


def _check_trial_files(trial_dir: Store) -> None:
    """Refuse a half-written trial rather than fit numbers that may be stale or partial."""
    if not trial_dir.is_dir() or not trial_dir.glob("*"):
        # never started: no folder yet, or the empty one Tune makes for a pending trial (a
        # sweep stopped before it reached them); Tune's state is all there is
        return
    name = trial_dir.name
    if not trial_dir.child("params.json").is_file():
        raise UsageError(f"trial {name} has no params.json: the experiment is incomplete")
    result = trial_dir.child("result.json")
    if result.is_file():
        for i, line in enumerate(result.read_text().splitlines(), 1):
            try:
                json.loads(line)
            except json.JSONDecodeError:
                raise UsageError(
                    f"trial {name}: result.json line {i} is truncated or corrupted; "
                    "resume the sweep (--resume) or remove the trial folder"
                ) from None


def require_columns(df: pd.DataFrame, columns: list[str], what: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise UsageError(
            f"{what}: table lacks column(s) {', '.join(missing)}; needs {', '.join(columns)}"
        )
