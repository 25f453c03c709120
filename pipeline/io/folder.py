"""A folder on any fsspec filesystem whose files appear whole or not at all.

Each file is written to a hidden temporary name (``.<name>.<random>.tmp``) and moved into place, so a kill
mid-write leaves no half-written file under a real name or suffix; :meth:`Folder.remove_temporaries` clears what
such a kill left. The records of an output (:mod:`pipeline.io.records`) and every job's scratch files are folders.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

TEMPORARY_SUFFIX = ".tmp"
# Row groups of about this many bytes read well from object storage; one row group per batch would not.
ROW_GROUP_BYTES = 64 << 20


class Folder:
    """A folder at ``url`` (created on first write), with atomic writes of Parquet, JSON and text files."""

    def __init__(self, url: str, storage_options: Mapping[str, Any] | None = None) -> None:
        self.fs, self.root = fsspec.core.url_to_fs(url, **dict(storage_options or {}))
        self.url = url
        self.storage_options = dict(storage_options or {})

    def path(self, name: str) -> str:
        """The filesystem path of ``<root>/<name>``."""
        return posixpath.join(self.root, name)

    def sub(self, name: str) -> Folder:
        """The folder ``<url>/<name>``, on the same filesystem."""
        return Folder(f"{self.url.rstrip('/')}/{name}", self.storage_options)

    def exists(self, name: str = "") -> bool:
        return bool(self.fs.exists(self.path(name) if name else self.root))

    def remove(self, name: str = "") -> None:
        """Remove ``<root>/<name>`` (a file or a folder, with everything in it), or the whole folder."""
        path = self.path(name) if name else self.root
        if self.fs.exists(path):
            self.fs.rm(path, recursive=True)

    def write_table(self, name: str, table: pa.Table, compression: str | None = "zstd") -> None:
        """Write ``table`` as ``<root>/<name>`` (a relative path), atomically: a reader sees all of it or nothing."""
        temporary = self._temporary(self.path(name))
        with self.fs.open(temporary, "wb") as f:
            pq.write_table(table, f, row_group_size=rows_per_group(table), compression=compression)
        self.fs.mv(temporary, self.path(name))

    def write_json(self, name: str, value: Any) -> None:
        self.write_text(name, json.dumps(value, indent=2, sort_keys=True))

    def write_text(self, name: str, text: str) -> None:
        temporary = self._temporary(self.path(name))
        with self.fs.open(temporary, "w") as f:
            f.write(text)
        self.fs.mv(temporary, self.path(name))

    def read_json(self, name: str) -> Any:
        """The JSON file ``<root>/<name>``; None when it is not there."""
        if not self.fs.exists(self.path(name)):
            return None
        with self.fs.open(self.path(name), "r") as f:
            return json.load(f)

    def read_table(self, name: str, columns: Sequence[str] | None = None) -> pa.Table | None:
        """The Parquet file ``<root>/<name>``; None when it is not there."""
        if not self.fs.exists(self.path(name)):
            return None
        with self.fs.open(self.path(name), "rb") as f:
            return pq.read_table(f, columns=columns)

    def read_tables(self, folder: str, columns: Sequence[str] | None = None) -> pa.Table | None:
        """Every Parquet file under ``<root>/<folder>`` (of ``columns``, or all) as one table; None when none."""
        paths = self.parquet_files(folder)
        if not paths:
            return None
        tables = []
        for path in paths:
            with self.fs.open(path, "rb") as f:
                tables.append(pq.read_table(f, columns=columns))
        return pa.concat_tables(tables, promote_options="default")

    def digest(self, folder: str) -> str:
        """SHA-256 of the bytes of every Parquet file under ``<root>/<folder>``, in name order: what a job made
        from those files is fingerprinted by it."""
        return hashlib.sha256(b"".join(self.fs.cat_file(path) for path in self.parquet_files(folder))).hexdigest()

    def parquet_files(self, folder: str = "") -> list[str]:
        """The Parquet files directly under ``<root>/<folder>``, in name order, without hidden or ``_`` names
        (temporaries, metadata), as any Parquet reader would list them."""
        paths = self.fs.glob(posixpath.join(self.root, folder, "*.parquet"))
        return sorted(path for path in paths if posixpath.basename(path)[:1] not in "._")

    def remove_temporaries(self) -> list[str]:
        """Remove what killed writes left behind (hidden ``.tmp`` files anywhere below the root); their names.

        Only one job writes a folder at a time (its output's claim), so a temporary seen when a job starts is
        never another live writer's."""
        if not self.fs.exists(self.root):
            return []
        leftovers = [path for path in self.fs.find(self.root) if is_temporary(path)]
        for path in leftovers:
            self.fs.rm(path)
        return leftovers

    def _temporary(self, path: str) -> str:
        self.fs.makedirs(posixpath.dirname(path), exist_ok=True)
        name = f".{posixpath.basename(path)}.{uuid.uuid4().hex}{TEMPORARY_SUFFIX}"
        return posixpath.join(posixpath.dirname(path), name)


def is_temporary(path: str) -> bool:
    name = posixpath.basename(path)
    # ``.tmp-<random>-<name>`` is how earlier builds named them; a resumed job clears those too.
    return name.startswith(".tmp-") or (name.startswith(".") and name.endswith(TEMPORARY_SUFFIX))


def rows_per_group(table: pa.Table) -> int:
    """Rows per Parquet row group for ``table``: about :data:`ROW_GROUP_BYTES` each."""
    if table.num_rows == 0:
        return 1
    bytes_per_row = max(1, table.nbytes // table.num_rows)
    return max(1, ROW_GROUP_BYTES // bytes_per_row)
