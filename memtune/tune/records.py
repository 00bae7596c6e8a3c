"""A trial's per-evaluation records: one parquet file in the trial's folder of the store."""

from __future__ import annotations

from typing import Any

import pandas as pd


class RecordsFile:
    """The trial's records: one parquet file, rewritten whole at every evaluation.

    Written through a pyarrow filesystem straight into the trial directory of the experiment
    store (local, NFS or s3://; ``memtune.tune.trainable._trial_folder``), not into Tune's local
    staging folder, which is synced to the
    store only for some trials (with reused actors, not at all). Rewriting the whole file keeps
    it a valid parquet file at every moment a trial can die. A trial restored from a checkpoint
    at step s first drops the rows of evaluations after s, which it is about to redo.
    """

    def __init__(
        self, filesystem: Any, directory: str, name: str, resume_step: int | None = None
    ) -> None:
        import pyarrow.parquet as pq

        self.fs, self.path = filesystem, f"{directory.rstrip('/')}/{name}"
        self.frames: list[pd.DataFrame] = []
        self.fs.create_dir(directory, recursive=True)  # the trial's folder may not exist yet
        if resume_step is not None and self._exists():
            old = pq.read_table(self.path, filesystem=self.fs).to_pandas()
            self.frames = [old[old["step"] <= resume_step]]

    def _exists(self) -> bool:
        from pyarrow import fs as pafs

        return self.fs.get_file_info(self.path).type == pafs.FileType.File

    def append(self, rows: pd.DataFrame) -> None:
        """Add one evaluation's rows and rewrite the file (via a temporary name, then move)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.frames.append(rows)
        table = pa.Table.from_pandas(
            pd.concat(self.frames, ignore_index=True), preserve_index=False
        )
        tmp = self.path + ".tmp"
        pq.write_table(table, tmp, filesystem=self.fs)
        self.fs.move(tmp, self.path)
