"""Files of an experiment store, local or remote, through pyarrow's file systems.

A store is given as a local path or a URI (``s3://bucket/prefix/name``, ``gs://...``; pyarrow
reads credentials and endpoints the usual way, e.g. ``AWS_ENDPOINT_URL``). Every analysis reads
through ``Store`` so an experiment on S3 is analysed from its URI exactly like a local one; only
the outputs are written locally.
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def is_uri(path: str | os.PathLike) -> bool:
    return "://" in str(path)


@dataclass(frozen=True)
class Store:
    """One file or folder: ``fs`` and ``path`` for pyarrow, ``uri`` as a user would write it."""

    fs: Any  # pyarrow.fs.FileSystem
    path: str  # the path inside fs (no scheme)
    uri: str  # the URI (remote) or absolute path (local)

    @classmethod
    def open(cls, path: str | os.PathLike | Store) -> Store:
        from pyarrow import fs as pafs

        if isinstance(path, Store):
            return path
        if is_uri(path):
            filesystem, fs_path = pafs.FileSystem.from_uri(str(path))
            return cls(filesystem, fs_path.rstrip("/"), str(path).rstrip("/"))
        p = str(Path(path).expanduser().resolve())  # Tune reads a relative path as a URI
        return cls(pafs.LocalFileSystem(), p, p)

    @property
    def local(self) -> bool:
        return not is_uri(self.uri)

    @property
    def name(self) -> str:
        return self.path.rstrip("/").rsplit("/", 1)[-1]

    @property
    def suffix(self) -> str:
        return os.path.splitext(self.name)[1]

    def at(self, fs_path: str) -> Store:
        """Another path of the same file system (e.g. a trial's ``path`` from Tune)."""
        fs_path = str(fs_path).rstrip("/")
        rel = fs_path[len(self.path) :] if fs_path.startswith(self.path) else None
        uri = self.uri + rel if rel is not None and not self.local else fs_path
        return Store(self.fs, fs_path, uri)

    def child(self, *parts: str) -> Store:
        tail = "/".join(parts)
        return Store(self.fs, f"{self.path}/{tail}", f"{self.uri}/{tail}")

    def _type(self) -> Any:
        from pyarrow import fs as pafs

        try:
            return self.fs.get_file_info(self.path).type
        except OSError:  # e.g. a bucket that does not exist
            return pafs.FileType.NotFound

    def exists(self) -> bool:
        from pyarrow import fs as pafs

        return self._type() != pafs.FileType.NotFound

    def is_dir(self) -> bool:
        from pyarrow import fs as pafs

        return self._type() == pafs.FileType.Directory

    def is_file(self) -> bool:
        from pyarrow import fs as pafs

        return self._type() == pafs.FileType.File

    def glob(self, pattern: str) -> list[Store]:
        """Files and folders matching ``pattern`` (``*`` within one level, ``a/*/b``), sorted."""
        from pyarrow import fs as pafs

        found = [self]
        for part in pattern.split("/"):
            nxt = []
            for d in found:
                if not d.is_dir():
                    continue
                infos = self.fs.get_file_info(pafs.FileSelector(d.path, allow_not_found=True))
                for info in infos:
                    base = info.path.rstrip("/").rsplit("/", 1)[-1]
                    if fnmatch.fnmatchcase(base, part):
                        nxt.append(d.child(base))
            found = nxt
        return sorted(found, key=lambda s: s.path)

    def stat(self) -> tuple[int, int]:
        """(size in bytes, modification time in ns) of a file."""
        info = self.fs.get_file_info(self.path)
        mtime = info.mtime_ns if info.mtime_ns is not None else 0
        return int(info.size or 0), int(mtime)

    def read_bytes(self) -> bytes:
        with self.fs.open_input_stream(self.path) as f:
            return f.read()

    def read_text(self) -> str:
        return self.read_bytes().decode()

    def read_table(self) -> Any:
        """A .csv or .parquet file as a DataFrame."""
        import io

        import pandas as pd

        data = io.BytesIO(self.read_bytes())
        return pd.read_csv(data) if self.suffix == ".csv" else pd.read_parquet(data)

    def __str__(self) -> str:
        return self.uri
