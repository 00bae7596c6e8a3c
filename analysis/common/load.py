"""Read results into one tidy table: Tune's experiment store or a plain CSV/parquet file.

One row per trial with its final metrics; config columns are named by their path in the
config dataclasses (``model.name``, ``data.n_seqs``, ``seed``). A plain table with those column
names (a W&B export, a paper's table) goes through the same fitters. Reading never trains and
never writes into the experiment.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from memtune.core.cli import UsageError

TABLE_SUFFIXES = {".csv", ".parquet", ".pq"}


def load_table(path: str | os.PathLike) -> pd.DataFrame:
    """A results table from an experiment directory, or a .csv / .parquet file."""
    p = Path(path)
    if p.suffix in TABLE_SUFFIXES:
        if not p.is_file():
            raise UsageError(f"results table {p} does not exist")
        df = pd.read_csv(p) if p.suffix == ".csv" else pd.read_parquet(p)
        if df.empty:
            raise UsageError(f"results table {p} has no rows")
        return df
    return load_experiment(p)


def _is_experiment(p: Path) -> bool:
    return any(p.glob("experiment_state-*.json"))


def config_columns(df: pd.DataFrame) -> pd.DataFrame:
    """Tune's ``config/model/name`` columns named by their config path, ``model.name``."""
    return df.rename(
        columns=lambda c: (
            c.removeprefix("config/").replace("/", ".") if c.startswith("config/") else c
        )
    )


@dataclass(frozen=True)
class Store:
    """A Tune experiment read once: its trials, and the final row of each as a tidy table."""

    path: Path
    table: pd.DataFrame  # one row per trial: final metrics, config columns, status
    analysis: Any  # ray.tune.ExperimentAnalysis, for the trials' folders and histories

    @property
    def trials(self) -> list[Any]:
        return self.analysis.trials

    def status(self) -> dict[str, str]:
        return {t.trial_id: t.status for t in self.trials}

    def history(self) -> pd.DataFrame:
        """Every report of every trial (``trial_id``, ``status``, config columns), in order."""
        frames = [
            df.assign(trial_id=tid)
            for tid, df in self.analysis.trial_dataframes.items()
            if not df.empty
        ]
        if not frames:
            raise UsageError(f"experiment {self.path} has no reported results yet")
        df = config_columns(pd.concat(frames, ignore_index=True))
        df["status"] = df["trial_id"].map(self.status())
        return df


def load_experiment(path: str | os.PathLike) -> pd.DataFrame:
    """Final metrics of every trial of a Tune experiment that reported at least once."""
    return read_store(path).table


def read_store(path: str | os.PathLike) -> Store:
    """The experiment at ``path``, checked: a half-written or corrupted store fails in one line."""
    p = Path(path).expanduser().resolve()  # Tune reads a relative path as an empty-scheme URI
    if not p.exists():
        raise UsageError(f"path {p} does not exist; give an experiment directory or a table")
    if not p.is_dir():
        raise UsageError(
            f"{p} is neither an experiment directory nor a {sorted(TABLE_SUFFIXES)} table"
        )
    if not _is_experiment(p):
        raise UsageError(f"{p} holds no Tune experiment (no experiment_state-*.json)")
    from ray.tune import ExperimentAnalysis

    from memtune.tune.legacy import alias_moved_modules

    alias_moved_modules()  # the trials of stores written before the package layout name them
    # Tune logs unreadable trials as multi-line warnings; _check_trial_files names them instead
    logging.getLogger("ray.tune.analysis.experiment_analysis").setLevel(logging.ERROR)
    try:
        ea = ExperimentAnalysis(str(p))
        df = ea.dataframe()
    except Exception as e:  # a half-written or corrupted store
        raise UsageError(f"cannot read experiment {p}: {type(e).__name__}: {e}") from None
    if df.empty or "trial_id" not in df:
        raise UsageError(f"experiment {p} has no reported results yet")
    for t in ea.trials:
        _check_trial_files(Path(t.path))
    df["status"] = df["trial_id"].map({t.trial_id: t.status for t in ea.trials})
    return Store(p, config_columns(df).reset_index(drop=True), ea)


def _check_trial_files(trial_dir: Path) -> None:
    """Refuse a half-written trial rather than fit numbers that may be stale or partial."""
    if not trial_dir.is_dir():
        return  # never started here (or stored remotely): Tune's state is all there is
    name = trial_dir.name
    if not (trial_dir / "params.json").is_file():
        raise UsageError(f"trial {name} has no params.json: the experiment is incomplete")
    result = trial_dir / "result.json"
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
