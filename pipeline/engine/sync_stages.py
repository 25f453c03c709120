"""The nightly run's stages before any encoding, each a plain function one task runs: hash tonight's rows, read
the store's hashes, and diff one id partition. No Ray here (``ray_pool`` runs them); no row crosses the driver.

They write under the run's folder (``<store records>/_runs/<run>/``), each file atomically:
``export/p=NNNN/<shard>.parquet`` (id, hash, delete flag), ``store/p=NNNN/<shard>.parquet`` (id, hash) and
``diff/p=NNNN.parquet`` (id, action ``encode`` or ``delete``). A rerun rewrites them with the same content.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.config import SourceConfig
from pipeline.io.shard import Shard
from pipeline.io.sink import OutputDir
from pipeline.io.sources import read_shard
from pipeline.io.stores import CONTENT_HASH_COLUMN, StoreRef, content_hashes
from pipeline.sync.diff import diff, partition_of

ENCODE, DELETE = "encode", "delete"


def hash_export_shard(source: SourceConfig, shard: Shard, partitions: int, run: str,
                      op_column: str | None) -> dict[str, int]:
    """Hash the content of one export shard and file its ``(id, content_hash, delete)`` rows by id partition.

    Args:
        op_column: in a changes export, the column whose ``delete`` marks a row to delete; None for a full one.
    """
    columns = [source.id_column, source.content_column, *([op_column] if op_column else [])]
    table = read_shard(shard, source.format, columns, dict(source.storage_options), source.store)
    marked = (pc.fill_null(pc.equal(table.column(op_column), "delete"), False) if op_column
              else pa.array(np.zeros(table.num_rows, bool)))
    rows = pa.table({"id": table.column(source.id_column), CONTENT_HASH_COLUMN:
                     content_hashes(table.column(source.content_column)), "delete": marked})
    _file_by_partition(rows, partitions, OutputDir(run), "export", shard.name)
    return {"rows": rows.num_rows}


def hash_store_shard(store: StoreRef, shard: Shard, partitions: int, run: str) -> dict[str, int]:
    """File one store shard's ``(id, content_hash)`` rows by id partition."""
    table = read_shard(shard, store.format, ["id", CONTENT_HASH_COLUMN], dict(store.storage_options), store)
    _file_by_partition(table, partitions, OutputDir(run), "store", shard.name)
    return {"rows": table.num_rows}


def diff_partition(partition: int, run: str, full: bool) -> dict[str, int]:
    """Diff one partition of tonight's export against the store's; write the ids to encode and to delete."""
    folder = OutputDir(run)
    name = f"p={partition:04d}"
    export, store = folder.read_tables(f"export/{name}"), folder.read_tables(f"store/{name}")
    id_type = next((t.schema.field("id").type for t in (export, store) if t is not None), pa.string())
    export = export if export is not None else _empty(id_type, "delete")
    store = store if store is not None else _empty(id_type)
    upserts = export.filter(pc.invert(export.column("delete")))
    found = diff(upserts, store, full, export.filter(export.column("delete")).column("id").combine_chunks())
    to_encode = pa.concat_arrays([found.new, found.changed]).sort()
    actions = pa.table({"id": pa.concat_arrays([to_encode, found.deleted]),
                        "action": [ENCODE] * len(to_encode) + [DELETE] * len(found.deleted)})
    folder.write_table(f"diff/{name}.parquet", actions)
    return found.counts()


def _empty(id_type: pa.DataType, *flags: str) -> pa.Table:
    """No rows, in the layout of the partition files (a partition one side does not have)."""
    return pa.table({"id": pa.array([], id_type), CONTENT_HASH_COLUMN: pa.array([], pa.string()),
                     **{flag: pa.array([], pa.bool_()) for flag in flags}})


def _file_by_partition(rows: pa.Table, partitions: int, folder: OutputDir, kind: str, shard: str) -> None:
    """Write ``rows`` as one file per id partition present: ``<kind>/p=NNNN/<shard>.parquet``."""
    parts = partition_of(rows.column("id"), partitions)
    for partition in np.unique(parts):
        folder.write_table(f"{kind}/p={partition:04d}/{shard}.parquet", rows.filter(pa.array(parts == partition)))
