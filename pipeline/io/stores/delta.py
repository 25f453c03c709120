"""A Delta Lake table (``deltalake``, delta-rs) as a :class:`~pipeline.io.stores.base.VectorStore`.

Write tasks write Parquet files into the table folder under names of their run and part; the transaction log does
not list them, so readers do not see them. The driver publishes with one commit that replaces the table's files
with exactly the staged ones (an ``overwrite`` of add actions). Provenance goes into the table's ``description``,
which that same commit writes: delta-rs 1.6.6 refuses keys of its own in ``configuration`` at write time, and
setting a table property afterwards would be a second commit. Delta has no vector index; readers index it.
"""

from __future__ import annotations

import json
import os
import posixpath
import time
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.config import IndexSpec
from pipeline.io.stores.base import CONTENT_HASH_COLUMN, PROVENANCE_KEY, StoreRef
from pipeline.io.stores.rows import normalize_rows, sql_in_lists
from pipeline.io.tables import EMBEDDING_COLUMN, ID_COLUMN, embedding_array, vectors_of


class DeltaStore:
    """One Delta table folder; every method opens the table afresh."""

    def __init__(self, ref: StoreRef) -> None:
        self.ref = ref
        self.uri = ref.path.rstrip("/")
        self.options = {str(k): str(v) for k, v in ref.storage_options.items()} or None

    def exists(self) -> bool:
        return self.table() is not None

    def stage(self, part: str, rows: pa.Table, run: str) -> dict[str, Any]:
        """Write ``rows`` as one Parquet file in the table folder, not yet in the log; returns its add action."""
        rows = delta_rows(normalize_rows(rows))
        name = f"irp-{run[:12]}-{part}.parquet"
        filesystem, root = _filesystem(self.uri)
        filesystem.create_dir(root, recursive=True)
        path = posixpath.join(root, name)
        pq.write_table(rows, path, filesystem=filesystem, compression="zstd")
        return {
            "rows": rows.num_rows,
            "path": name,
            "size": filesystem.get_file_info(path).size,
            "modified_ms": int(time.time() * 1000),
            "schema": rows.schema.serialize().to_pybytes().hex(),
        }

    def publish(
        self,
        staged: Mapping[str, Mapping[str, Any]],
        provenance: Mapping[str, Any],
        index: IndexSpec | None,
        run: str,
        details: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        from deltalake import DeltaTable, Schema
        from deltalake.transaction import AddAction, create_table_with_add_actions

        if index is not None:
            raise ValueError(f"{self.ref.describe()}: Delta tables have no vector index; drop the index block")
        live = self.table()
        if live is not None and self.provenance().get("publish_id") == provenance.get("publish_id"):
            return {"version": live.version(), "rows": _rows(live), "published": False}
        records = [staged[part] for part in sorted(staged)]
        actions = [
            AddAction(r["path"], r["size"], {}, r["modified_ms"], True, json.dumps({"numRecords": r["rows"]}))
            for r in records
        ]
        arrow_schema = pa.ipc.read_schema(pa.py_buffer(bytes.fromhex(records[0]["schema"])))
        create_table_with_add_actions(
            self.uri,
            Schema.from_arrow(arrow_schema),
            actions,
            mode="overwrite",
            description=json.dumps({PROVENANCE_KEY: dict(provenance)}),
            storage_options=self.options,
        )
        published = DeltaTable(self.uri, storage_options=self.options)
        return {"version": published.version(), "rows": sum(r["rows"] for r in records), "published": True}

    def check_staged(self, part: str, staged: Mapping[str, Any], run: str) -> str | None:
        """Staged Parquet files are removed only by a publish or :meth:`discard`: trusted."""
        return None

    def discard(self, run: str) -> None:
        """Unpublished files are in no commit; Delta's ``vacuum`` removes them once past its retention."""

    def provenance(self) -> dict[str, Any]:
        table = self.table()
        description = None if table is None else table.metadata().description
        try:
            return json.loads(description).get(PROVENANCE_KEY, {}) if description else {}
        except (ValueError, AttributeError):
            return {}  # a foreign table with a description of its own

    def upsert(self, rows: pa.Table) -> dict[str, int]:
        from deltalake import write_deltalake

        rows = delta_rows(normalize_rows(rows))
        table = self.table()
        if table is None:
            write_deltalake(self.uri, rows, mode="error", storage_options=self.options)
            return {"inserted": rows.num_rows, "updated": 0, "unchanged": 0}
        result = (
            table.merge(rows, f"target.{ID_COLUMN} = source.{ID_COLUMN}", source_alias="source", target_alias="target")
            .when_matched_update_all(predicate=f"target.{CONTENT_HASH_COLUMN} != source.{CONTENT_HASH_COLUMN}")
            .when_not_matched_insert_all()
            .execute()
        )
        inserted, updated = result["num_target_rows_inserted"], result["num_target_rows_updated"]
        return {"inserted": inserted, "updated": updated, "unchanged": rows.num_rows - inserted - updated}

    def merge(self, upserts: pa.Table, deletes: Sequence[Any]) -> dict[str, Any]:
        """Upserts and deletes in one ``MERGE`` commit: matched ids replaced, new ids inserted, and the target rows
        the source does not have deleted when their id is in ``deletes``."""
        from deltalake import write_deltalake

        rows = delta_rows(normalize_rows(upserts))
        table = self.table()
        if table is None:  # the first night: nothing to delete from
            if not rows.num_rows:
                return {"version": None, "upserted": 0, "deleted": 0}
            write_deltalake(self.uri, rows, mode="error", storage_options=self.options)
            return {"version": self.table().version(), "upserted": rows.num_rows, "deleted": 0}
        merger = (
            table.merge(rows, f"target.{ID_COLUMN} = source.{ID_COLUMN}", source_alias="source", target_alias="target")
            .when_matched_update_all()
            .when_not_matched_insert_all()
        )
        if len(deletes):
            merger = merger.when_not_matched_by_source_delete(" OR ".join(sql_in_lists(f"target.{ID_COLUMN}", deletes)))
        result = merger.execute()
        return {
            "version": self.table().version(),
            "deleted": result["num_target_rows_deleted"],
            "upserted": result["num_target_rows_inserted"] + result["num_target_rows_updated"],
        }

    def delete(self, ids: Sequence[Any]) -> int:
        table = self.table()
        if table is None or not ids:
            return 0
        return sum(table.delete(predicate)["num_deleted_rows"] for predicate in sql_in_lists(ID_COLUMN, ids))

    def read(self, columns: Sequence[str] | None = None, ids: Sequence[Any] | None = None) -> pa.Table:
        table = self.table()
        if table is None:
            raise FileNotFoundError(f"{self.ref.describe()}: no Delta table there")
        columns = list(columns) if columns else None
        if ids is None:
            read = table.to_pyarrow_dataset().to_table(columns=columns)
        elif not len(ids):  # no rows, but the table's columns
            read = table.to_pyarrow_dataset().head(0, columns=columns)
        else:
            read = self._rows_of(table, columns, list(ids))
        if EMBEDDING_COLUMN not in read.column_names or not read.num_rows:
            return read  # no rows have no width: their vectors stay Delta's plain lists
        vectors = embedding_array(vectors_of(read.column(EMBEDDING_COLUMN)))
        return read.set_column(read.schema.get_field_index(EMBEDDING_COLUMN), EMBEDDING_COLUMN, vectors)

    def _rows_of(self, table: Any, columns: list[str] | None, ids: list[Any]) -> pa.Table:
        """The rows of ``ids``, found by Delta's own query engine.

        A pyarrow dataset filter would be simpler, but delta-rs writes the files of a MERGE with ``string_view``
        columns, and pyarrow cannot compare those with the ``string`` statistics of the other files.
        """
        from deltalake import QueryBuilder

        names = ", ".join(f'"{name}"' for name in columns) if columns else "*"
        where = " OR ".join(sql_in_lists(f'"{self.ref.id_column}"', ids))
        read = pa.table(QueryBuilder().register("t", table).execute(f"SELECT {names} FROM t WHERE {where}").read_all())
        return read.cast(
            pa.schema(
                [
                    pa.field(field.name, pa.string()) if pa.types.is_string_view(field.type) else field
                    for field in read.schema
                ]
            )
        )

    def table(self) -> Any:
        from deltalake import DeltaTable
        from deltalake.exceptions import TableNotFoundError

        try:
            return DeltaTable(self.uri, storage_options=self.options)
        except TableNotFoundError:
            return None


def delta_rows(rows: pa.Table) -> pa.Table:
    """Store rows as Delta types: it has no fixed-size list, so vectors become ``list<element: float>``."""
    vectors = rows.column(EMBEDDING_COLUMN).combine_chunks()
    if not pa.types.is_fixed_size_list(vectors.type):
        return rows  # no rows, read back from Delta: lists already
    as_list = pa.ListArray.from_arrays(
        pa.array(range(0, (len(vectors) + 1) * vectors.type.list_size, vectors.type.list_size), pa.int32()),
        vectors.values,
        type=pa.list_(pa.field("element", pa.float32())),
    )
    return rows.set_column(rows.schema.get_field_index(EMBEDDING_COLUMN), EMBEDDING_COLUMN, as_list)


def _filesystem(uri: str) -> tuple[Any, str]:
    """pyarrow's filesystem for a table URI and the table's path in it (a bare path is a local folder)."""
    import pyarrow.fs as pafs

    if "://" in uri:
        return pafs.FileSystem.from_uri(uri)
    return pafs.LocalFileSystem(), os.path.abspath(uri)


def _rows(table: Any) -> int:
    return sum(pa.table(table.get_add_actions(flatten=True)).column("num_records").to_pylist())
