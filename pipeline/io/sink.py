"""Write an output directory: ``part-*.parquet`` per shard, ``_quarantine/``, ``_manifest.json``, ``_SUCCESS``.

Each file is written to a hidden temporary name (``.<name>.<random>.tmp``) and moved into place, so a kill
mid-write leaves no half-written file under a real name or suffix, and a resumed job removes such leftovers.
A shard's row counts go to ``_shards/`` after its part and quarantine files, so a shard with counts is complete:
a killed job resumes by skipping those shards, and the manifest totals every shard, whichever run wrote it.
``_SUCCESS`` is written last, and only when every planned shard is in.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

QUARANTINE_DIR = "_quarantine"
SHARDS_DIR = "_shards"
MANIFEST = "_manifest.json"
SUCCESS = "_SUCCESS"
TEMPORARY_SUFFIX = ".tmp"
QUARANTINE_SCHEMA = pa.schema([("id", pa.string()), ("reason", pa.string()), ("source", pa.string())])
# Row groups of about this many bytes read well from object storage; one row group per batch would not.
ROW_GROUP_BYTES = 64 << 20


class OutputDir:
    """An output directory on any fsspec filesystem."""

    def __init__(self, url: str, storage_options: Mapping[str, Any] | None = None) -> None:
        self.fs, self.root = fsspec.core.url_to_fs(url, **dict(storage_options or {}))
        self.url = url

    def part_path(self, name: str) -> str:
        return posixpath.join(self.root, f"{name}.parquet")

    def quarantine_path(self, name: str) -> str:
        return posixpath.join(self.root, QUARANTINE_DIR, f"{name}.parquet")

    def write_part(
        self, name: str, table: pa.Table | None, quarantine: pa.Table | None, counts: Mapping[str, Any]
    ) -> None:
        """Write a shard's rows (unless None: a store staged them), its rejected rows (if any), and then its
        counts, each atomically."""
        if quarantine is not None and quarantine.num_rows:
            self._write_atomic(self.quarantine_path(name), quarantine.cast(QUARANTINE_SCHEMA))
        if table is not None:
            self._write_atomic(self.part_path(name), table)
        self._write_text(posixpath.join(self.root, SHARDS_DIR, f"{name}.json"), json.dumps(dict(counts)))

    def publish(self, shards: Iterable[str], provenance: Mapping[str, Any]) -> dict[str, Any]:
        """Nothing to do: a Parquet directory is published by its manifest and ``_SUCCESS``."""
        return {}

    def finished_shards(self) -> dict[str, dict[str, Any]]:
        """``{part name: counts}`` of every shard completely written, by this run or an earlier one."""
        folder = posixpath.join(self.root, SHARDS_DIR)
        if not self.fs.exists(folder):
            return {}
        finished = {}
        for path in self.fs.glob(posixpath.join(folder, "part-*.json")):
            with self.fs.open(path, "r") as f:
                finished[posixpath.basename(path).removesuffix(".json")] = json.load(f)
        return finished

    def broken(self, name: str, counts: Mapping[str, Any]) -> str | None:
        """Why a finished part cannot be trusted: a file it recorded is missing, or holds another number of rows
        than recorded (read from the Parquet footer only); None when it is whole. A rerun redoes such a shard
        instead of reporting success over rows that are gone."""
        for path, recorded in self._recorded_files(name, counts):
            if not self.fs.exists(path):
                return f"{posixpath.basename(path)} is missing ({recorded} rows recorded)"
            with self.fs.open(path, "rb") as f:
                found = pq.ParquetFile(f).metadata.num_rows
            if found != recorded:
                return f"{posixpath.basename(path)} holds {found} rows, not the {recorded} recorded"
        return None

    def _recorded_files(self, name: str, counts: Mapping[str, Any]) -> list[tuple[str, int]]:
        """The files a finished part wrote and their row counts: its rows and its quarantine, when not empty."""
        files = [(self.part_path(name), int(counts.get("rows_out", 0))),
                 (self.quarantine_path(name), int(counts.get("rows_quarantined", 0)))]
        return [(path, rows) for path, rows in files if rows]

    def write_manifest(self, manifest: Mapping[str, Any], complete: bool = True) -> None:
        """Write ``_manifest.json`` and then, when ``complete``, ``_SUCCESS``: readers wait for ``_SUCCESS``."""
        self._write_text(posixpath.join(self.root, MANIFEST), json.dumps(manifest, indent=2, sort_keys=True))
        if complete:
            self._write_text(posixpath.join(self.root, SUCCESS), "")

    def withdraw_success(self) -> None:
        """Remove ``_SUCCESS`` before parts change: readers must not take a half-redone table for a whole one."""
        path = posixpath.join(self.root, SUCCESS)
        if self.fs.exists(path):
            self.fs.rm(path)

    def forget_parts(self, names: Iterable[str]) -> None:
        """Remove these parts: their counts first (so a kill half-way leaves them unfinished), then their files."""
        for name in names:
            for path in (posixpath.join(self.root, SHARDS_DIR, f"{name}.json"), self.part_path(name),
                         self.quarantine_path(name)):
                if self.fs.exists(path):
                    self.fs.rm(path)

    def part_names(self) -> set[str]:
        """Every part here with counts or a file, finished or not."""
        found = {posixpath.basename(p).removesuffix(".parquet") for p in self.fs.glob(self.part_path("part-*"))}
        return found | set(self.finished_shards())

    def remove_temporaries(self) -> list[str]:
        """Remove what killed writes left behind (hidden ``.tmp`` files anywhere below the root); their names.

        Only one job writes a directory at a time (``claim_output``), so a temporary seen when a job starts is
        never another live writer's."""
        if not self.fs.exists(self.root):
            return []
        leftovers = [path for path in self.fs.find(self.root) if _is_temporary(path)]
        for path in leftovers:
            self.fs.rm(path)
        return leftovers

    def read_manifest(self) -> dict[str, Any] | None:
        path = posixpath.join(self.root, MANIFEST)
        if not self.fs.exists(path):
            return None
        with self.fs.open(path, "r") as f:
            return json.load(f)

    def write_table(self, name: str, table: pa.Table) -> None:
        """Write ``table`` as ``<root>/<name>`` (a relative path), atomically: a reader sees all of it or nothing."""
        self._write_atomic(posixpath.join(self.root, name), table)

    def read_tables(self, folder: str, columns: Sequence[str] | None = None) -> pa.Table | None:
        """Every Parquet file under ``<root>/<folder>`` (of ``columns``, or all) as one table; None when none."""
        paths = self._parquet_files(folder)
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
        paths = self._parquet_files(folder)
        return hashlib.sha256(b"".join(self.fs.cat_file(path) for path in paths)).hexdigest()

    def read_table(self, name: str, columns: Sequence[str] | None = None) -> pa.Table | None:
        """The Parquet file ``<root>/<name>``; None when it is not there."""
        path = posixpath.join(self.root, name)
        if not self.fs.exists(path):
            return None
        with self.fs.open(path, "rb") as f:
            return pq.read_table(f, columns=columns)

    def _parquet_files(self, folder: str) -> list[str]:
        """The Parquet files directly under ``<root>/<folder>``, in name order, without hidden or ``_`` names
        (temporaries, metadata), as any Parquet reader would list them."""
        paths = self.fs.glob(posixpath.join(self.root, folder, "*.parquet"))
        return sorted(path for path in paths if posixpath.basename(path)[:1] not in "._")

    def _write_atomic(self, path: str, table: pa.Table) -> None:
        temporary = self._temporary(path)
        with self.fs.open(temporary, "wb") as f:
            pq.write_table(table, f, row_group_size=_rows_per_group(table), compression="zstd")
        self.fs.mv(temporary, path)

    def _write_text(self, path: str, text: str) -> None:
        temporary = self._temporary(path)
        with self.fs.open(temporary, "w") as f:
            f.write(text)
        self.fs.mv(temporary, path)

    def _temporary(self, path: str) -> str:
        self.fs.makedirs(posixpath.dirname(path), exist_ok=True)
        name = f".{posixpath.basename(path)}.{uuid.uuid4().hex}{TEMPORARY_SUFFIX}"
        return posixpath.join(posixpath.dirname(path), name)


def _is_temporary(path: str) -> bool:
    name = posixpath.basename(path)
    # ``.tmp-<random>-<name>`` is how earlier builds named them; a resumed job clears those too.
    return name.startswith(".tmp-") or (name.startswith(".") and name.endswith(TEMPORARY_SUFFIX))


def quarantine_table(rows: Mapping[int, str], ids: pa.Array, source: str,
                     unreadable: Mapping[str, str] | None = None) -> pa.Table:
    """Rejected rows of a shard: their ids (as text), the reason, and where they came from; then the records that
    could not be read into rows at all, under ``<file>@<byte offset>`` in place of an id."""
    index = sorted(rows)
    unreadable = unreadable or {}
    return pa.table(
        {
            "id": [None if ids[i].as_py() is None else str(ids[i].as_py()) for i in index] + list(unreadable),
            "reason": [rows[i] for i in index] + list(unreadable.values()),
            "source": [source] * (len(index) + len(unreadable)),
        },
        schema=QUARANTINE_SCHEMA,
    )


def _rows_per_group(table: pa.Table) -> int:
    if table.num_rows == 0:
        return 1
    bytes_per_row = max(1, table.nbytes // table.num_rows)
    return max(1, ROW_GROUP_BYTES // bytes_per_row)
