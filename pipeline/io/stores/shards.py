"""Shards of a store table, so actors read a store in parallel: Lance fragments, Delta files, PostgreSQL pages.

- LanceDB: one shard per fragment (a row range of it when larger than the row budget), read at the dataset
  version planned, so a table written to during the job is still read as one version.
- Delta: the Parquet files of the table version planned, row group by row group, read as any Parquet shard.
- pgvector: ranges of heap pages (``ctid`` ranges; PostgreSQL 14+ scans them directly), sized from the table's
  rows per page. The connection string never enters a shard: shards name the table alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import pyarrow as pa

from pipeline.io.shard import Shard
from pipeline.io.stores import StoreRef, open_store

if TYPE_CHECKING:
    from pipeline.io.stores.lance import LanceStore
    from pipeline.io.stores.pgvector import PgVectorStore

PG_SHARD_PREFIX = "pgvector:"


def plan_store_shards(store: StoreRef, chunk_rows: int, parquet_shards: Any) -> list[Shard]:
    """The shards of a store table, in a stable order (see the module docstring).

    Args:
        store: the table.
        chunk_rows: a fragment, row group or page range holds about this many rows at most.
        parquet_shards: ``(files, version) -> shards`` of :mod:`pipeline.io.sources`, for Delta's files.

    Raises:
        FileNotFoundError: the table does not exist.
        ValueError: the table is empty, or a Delta table with deletion vectors (its files hold deleted rows).
    """
    handle = open_store(store)
    if not handle.exists():
        raise FileNotFoundError(f"{store.describe()}: no such table")
    if store.format == "delta":
        shards = _delta_shards(handle, parquet_shards)
    elif store.format == "lancedb":
        shards = _lance_shards(cast("LanceStore", handle), chunk_rows)
    else:
        shards = [
            Shard(i, (f"{PG_SHARD_PREFIX}{store.table}",), rows=pages)
            for i, pages in enumerate(cast("PgVectorStore", handle).plan_pages(chunk_rows))
        ]
    if not shards:
        raise ValueError(f"{store.describe()}: the table has no rows; there is nothing to translate")
    return shards


def _delta_shards(handle: Any, parquet_shards: Any) -> list[Shard]:
    table = handle.table()
    if "deletionVectors" in (table.protocol().reader_features or []):
        raise ValueError(
            f"{handle.ref.describe()}: the table uses deletion vectors, so its files still hold deleted "
            "rows; rewrite it first (OPTIMIZE with deletion vectors purged) to read it by file"
        )
    return parquet_shards(sorted(table.file_uris()), f"delta-v{table.version()}")


def _lance_shards(handle: LanceStore, chunk_rows: int) -> list[Shard]:
    """One shard per fragment, or per ``chunk_rows`` of a large one; empty fragments give none."""
    dataset = handle.dataset()
    pieces = [
        (fragment.fragment_id, start, min(start + chunk_rows, rows))
        for fragment in dataset.get_fragments()
        for rows in [fragment.count_rows()]
        for start in range(0, rows, chunk_rows)
    ]
    return [
        Shard(i, (handle.uri,), fragment, rows=(start, stop), version=f"lance-v{dataset.version}")
        for i, (fragment, start, stop) in enumerate(pieces)
    ]


def read_store_shard(store: StoreRef, shard: Shard, columns: list[str] | None) -> pa.Table:
    """Read one shard of :func:`plan_store_shards` (Delta shards are read as Parquet by the caller)."""
    handle = open_store(store)
    if shard.rows is None:
        raise ValueError(
            f"{store.describe()}: shard {shard.name} names no rows; it was not planned by plan_store_shards"
        )
    if store.format == "lancedb":
        version = int(shard.version.removeprefix("lance-v"))
        start, stop = shard.rows
        fragment = cast("LanceStore", handle).dataset(version).get_fragment(shard.row_group)
        return fragment.to_table(columns=columns, offset=start, limit=stop - start)
    if columns is None:
        raise ValueError(f"{store.describe()}: a pgvector shard is read by named columns; none were given")
    return cast("PgVectorStore", handle).read_pages(shard.rows, columns)
