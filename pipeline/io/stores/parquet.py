"""A directory of Parquet files as a :class:`~pipeline.io.stores.base.VectorStore`: the table every reader reads.

The directory holds exactly the table: ``part-*.parquet``, ``_manifest.json`` (what made it, and its parts' row
counts) and, written last, ``_SUCCESS``. DuckDB's ``read_parquet('<dir>/**/*.parquet')``, Polars' scan of the same
glob, pandas and ``pyarrow.dataset`` all read exactly its rows, because nothing else in it is Parquet.

A version is built aside and then swapped in. Write tasks stage their parts in the records folder
(``<records>/staging/<run>/``, :mod:`pipeline.io.stores.layout`); :meth:`ParquetStore.publish` moves them into the
directory, removes the parts the new version does not have, and writes ``_manifest.json`` and ``_SUCCESS``. A
night's :meth:`~ParquetStore.merge` stages rewrites of only the parts that hold a changed or deleted id, plus one
part of new rows, and swaps those in the same way.

A directory of files has no transactions: during a swap (a rename per part) ``_SUCCESS`` is withdrawn, and a
reader that ignores it can see a mix of versions. The swap writes its plan (``commit.json``) before it starts, so a
swap cut short by a kill is finished by the next use of the table. Readers who need snapshot isolation keep the
table in Delta or LanceDB.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline.config import IndexSpec
from pipeline.io.folder import Folder
from pipeline.io.stores.base import CONTENT_HASH_COLUMN, StoreRef
from pipeline.io.stores.layout import beside
from pipeline.io.stores.rows import normalize_rows
from pipeline.io.tables import ID_COLUMN

MANIFEST = "_manifest.json"
SUCCESS = "_SUCCESS"
STAGING_DIR = "staging"
COMMIT = "commit.json"  # a swap's plan, in its staging folder until the swap is done


class ParquetStore:
    """One Parquet directory and the staging folder of its records."""

    def __init__(self, ref: StoreRef) -> None:
        self.ref = ref
        self.table = Folder(ref.path, ref.storage_options)
        self.records = Folder(ref.records or beside(ref.path), ref.storage_options)

    def staging(self, run: str) -> Folder:
        return self.records.sub(f"{STAGING_DIR}/{run}")

    # -- the published version -------------------------------------------------------------------------------

    def exists(self) -> bool:
        self._finish_interrupted_swaps()
        return self.table.exists(SUCCESS)

    def manifest(self) -> dict[str, Any]:
        """The published version's ``_manifest.json``; empty when there is none."""
        return self.table.read_json(MANIFEST) or {}

    def provenance(self) -> dict[str, Any]:
        return dict(self.manifest().get("provenance", {})) if self.exists() else {}

    def part_names(self) -> list[str]:
        """The parts in the directory now, in name order."""
        return [posixpath.basename(path).removesuffix(".parquet") for path in self.table.parquet_files()]

    def read(self, columns: Sequence[str] | None = None, ids: Sequence[Any] | None = None) -> pa.Table:
        if not self.exists():
            raise FileNotFoundError(f"{self.ref.describe()}: no published Parquet table there")
        tables = [self._read_part(name, columns, ids) for name in self.part_names()]
        if not tables:
            raise FileNotFoundError(f"{self.ref.describe()}: the table has no parts")
        return pa.concat_tables(tables, promote_options="default")

    def _read_part(self, name: str, columns: Sequence[str] | None, ids: Sequence[Any] | None) -> pa.Table:
        wanted = None if columns is None else list(dict.fromkeys([*columns, *([] if ids is None else [ID_COLUMN])]))
        table = self.table.read_table(f"{name}.parquet", wanted)
        if table is None:
            raise FileNotFoundError(f"{self.ref.describe()}: {name} vanished while it was read")
        if ids is not None:
            table = table.filter(
                pc.is_in(
                    table.column(ID_COLUMN).cast(pa.string()),
                    value_set=pa.array([str(value) for value in ids], pa.string()),
                )
            )
        return table if columns is None else table.select(list(columns))

    # -- staged writes ---------------------------------------------------------------------------------------

    def stage(self, part: str, rows: pa.Table, run: str) -> dict[str, Any]:
        """Write ``rows`` (as they are, provenance metadata included) as ``<records>/staging/<run>/<part>.parquet``."""
        self.staging(run).write_table(f"{part}.parquet", rows)
        return {"rows": rows.num_rows}

    def check_staged(self, part: str, staged: Mapping[str, Any], run: str) -> str | None:
        """Why ``part``'s staged file cannot be trusted: it is in neither the staging folder nor the table (a publish
        moves it there), or holds another number of rows than staged; None when it is whole."""
        for folder in (self.staging(run), self.table):
            if folder.exists(f"{part}.parquet"):
                rows = _row_count(folder, f"{part}.parquet")
                return (
                    None
                    if rows == staged.get("rows")
                    else (f"{part}.parquet holds {rows} rows, not the {staged.get('rows')} staged")
                )
        return f"{part}.parquet is missing ({staged.get('rows')} rows staged)"

    def publish(
        self,
        staged: Mapping[str, Mapping[str, Any]],
        provenance: Mapping[str, Any],
        index: IndexSpec | None,
        run: str,
        details: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Make exactly the ``staged`` parts the table (see the module docstring); nothing when the table already
        carries ``provenance["publish_id"]``.

        A staged part no longer in the staging folder was moved into the table by an earlier publish of the same
        run (a rerun that redid other shards, or a swap cut short), and stays as it is.
        """
        if index is not None:
            raise ValueError(
                f"{self.ref.describe()}: a Parquet directory has no vector index; drop the index block "
                "(or publish to lancedb or pgvector)"
            )
        live = self.manifest() if self.exists() else {}
        rows = sum(int(record.get("rows", 0)) for record in staged.values())
        waiting = [name for name in staged if self.staging(run).exists(f"{name}.parquet")]
        # Already published under this name, and nothing redone since: a rerun after a publish whose manifest was
        # never written. A shard redone from the same input (its record lost) still has to be moved in.
        if live and live.get("provenance", {}).get("publish_id") == provenance.get("publish_id") and not waiting:
            return {"version": live.get("version"), "rows": rows, "published": False}
        version = int(live.get("version", 0)) + 1
        manifest = {
            **dict(details or {}),
            "provenance": dict(provenance),
            "version": version,
            "parts": {name: int(staged[name].get("rows", 0)) for name in sorted(staged)},
        }
        self._swap(run, {name: True for name in staged}, manifest)
        return {"version": version, "rows": rows, "published": True}

    def discard(self, run: str) -> None:
        self.staging(run).remove()

    # -- incremental writes ----------------------------------------------------------------------------------

    def merge(self, upserts: pa.Table, deletes: Sequence[Any]) -> dict[str, Any]:
        """A night's changes as one new version: every part that holds a replaced or deleted id is rewritten
        without it, and the upserts become one new part."""
        rows = normalize_rows(upserts) if upserts.num_rows else None
        upserted = set() if rows is None else {str(value) for value in rows.column(ID_COLUMN).to_pylist()}
        deleted_ids = pa.array(sorted({str(value) for value in deletes} - upserted), pa.string())
        replaced_ids = pa.array(sorted(upserted), pa.string())
        live, rewritten, deleted = (self.manifest() if self.exists() else {}), {}, 0
        for name in self.part_names() if live else []:
            part = self._read_part(name, None, None)  # raises FileNotFoundError if the part vanished
            ids = part.column(ID_COLUMN).cast(pa.string())
            gone = pc.is_in(ids, value_set=deleted_ids)
            hit = pc.or_(gone, pc.is_in(ids, value_set=replaced_ids))
            if pc.any(hit).as_py():
                rewritten[name] = part.filter(pc.invert(hit))
                deleted += pc.sum(gone).as_py() or 0
        if not live and rows is None:
            return {"version": None, "upserted": 0, "deleted": 0}
        version = self._commit(rewritten, rows, live)
        return {"version": version, "upserted": len(upserted), "deleted": deleted}

    def upsert(self, rows: pa.Table) -> dict[str, int]:
        """Insert new ids and replace the rows of ids whose ``content_hash`` changed, as one new version."""
        rows = normalize_rows(rows)
        stored = self.read([ID_COLUMN, CONTENT_HASH_COLUMN]) if self.exists() else None
        if stored is None:
            self.merge(rows, [])
            return {"inserted": rows.num_rows, "updated": 0, "unchanged": 0}
        known = dict(
            zip(stored.column(ID_COLUMN).to_pylist(), stored.column(CONTENT_HASH_COLUMN).to_pylist(), strict=True)
        )
        ids, hashes = rows.column(ID_COLUMN).to_pylist(), rows.column(CONTENT_HASH_COLUMN).to_pylist()
        changed = [
            i
            for i, (key, value) in enumerate(zip(ids, hashes, strict=True))
            if known.get(key, value) != value or key not in known
        ]
        if changed:
            self.merge(rows.take(pa.array(changed)), [])
        inserted = sum(ids[i] not in known for i in changed)
        return {"inserted": inserted, "updated": len(changed) - inserted, "unchanged": rows.num_rows - len(changed)}

    def delete(self, ids: Sequence[Any]) -> int:
        if not self.exists() or not len(ids):
            return 0
        return int(self.merge(self.read([ID_COLUMN]).slice(0, 0), ids).get("deleted", 0))

    # -- the swap --------------------------------------------------------------------------------------------

    def _commit(self, rewritten: Mapping[str, pa.Table], rows: pa.Table | None, live: Mapping[str, Any]) -> int:
        """Stage the ``rewritten`` parts and the new ``rows`` as one part, swap them in; the new version."""
        version = int(live.get("version", 0)) + 1
        run = f"merge-v{version:06d}"
        staging = self.staging(run)
        for name, table in rewritten.items():
            staging.write_table(f"{name}.parquet", table)
        parts = {name: name in rewritten for name in self.part_names()} if live else {}
        if rows is not None:
            staging.write_table(f"part-v{version:06d}.parquet", rows)
            parts[f"part-v{version:06d}"] = True
        manifest = {key: value for key, value in live.items() if key not in ("version", "parts")}
        self._swap(run, parts, {**manifest, "version": version})
        return version

    def _swap(self, run: str, parts: Mapping[str, bool], manifest: Mapping[str, Any]) -> None:
        """Make the table exactly ``parts`` (True: move the staged file in; False: keep the table's own), then write
        ``manifest`` and ``_SUCCESS``. The plan is written first, so a swap cut short can be finished."""
        staging = self.staging(run)
        staging.write_json(COMMIT, {"parts": dict(parts), "manifest": dict(manifest)})
        self._apply(staging)

    def _apply(self, staging: Folder) -> None:
        plan = staging.read_json(COMMIT)
        parts, manifest = plan["parts"], plan["manifest"]
        self.table.remove_temporaries()
        self.table.remove(SUCCESS)
        self.table.fs.makedirs(self.table.root, exist_ok=True)
        for name, staged in parts.items():
            if staged and staging.exists(f"{name}.parquet"):
                self.table.fs.mv(staging.path(f"{name}.parquet"), self.table.path(f"{name}.parquet"))
        for name in set(self.part_names()) - set(parts):
            self.table.remove(f"{name}.parquet")
        counts = {name: _row_count(self.table, f"{name}.parquet") for name in sorted(parts)}
        self.table.write_json(MANIFEST, {**manifest, "parts": counts})
        self.table.write_text(SUCCESS, "")
        staging.remove()
        if not self.records.fs.ls(self.records.path(STAGING_DIR), detail=False):
            self.records.remove(STAGING_DIR)  # no other run stages here: leave no empty folder behind

    def _finish_interrupted_swaps(self) -> None:
        """Finish every swap a kill cut short (its plan is still in its staging folder)."""
        root = self.records.path(STAGING_DIR)
        if not self.records.fs.exists(root):
            return
        for path in sorted(self.records.fs.glob(posixpath.join(root, "*", COMMIT))):
            self._apply(self.staging(posixpath.basename(posixpath.dirname(path))))


def _row_count(folder: Folder, name: str) -> int:
    with folder.fs.open(folder.path(name), "rb") as f:
        return pq.ParquetFile(f).metadata.num_rows
