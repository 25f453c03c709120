"""Where a table and its records live: the store table a config block names, and the records folder beside it.

A table holds only what its readers read. What a job keeps about it (the claim, per-shard records, quarantined
rows, the fitted translator, embedded anchors, scratch) lives in the *records* folder, outside anything a reader
of the table lists:

- a Parquet directory or a Delta table at ``<parent>/<name>``: ``<parent>/_irp/<name>/``;
- a LanceDB table ``<table>`` of the database ``<db>``: ``<db>/_irp/<table>/``;
- a pgvector table: the block's ``path``, by default ``.irp/pgvector/<table>`` (on a cluster, a folder every
  node reaches);
- or the block's own ``records`` folder, where it names one.
"""

from __future__ import annotations

import posixpath

from pipeline.config import STORE_FORMATS, OutputConfig, SourceConfig
from pipeline.io.stores.base import StoreRef

RECORDS_DIR = "_irp"


def records_of(output: OutputConfig) -> str:
    """The records folder of an output block (see the module docstring)."""
    if output.records:
        return output.records
    if output.format == "lancedb":
        return f"{output.path.rstrip('/')}/{RECORDS_DIR}/{output.table}"
    if output.format == "pgvector":
        return output.path or f".irp/pgvector/{output.table}"
    return beside(output.path)


def beside(path: str) -> str:
    """``<parent>/_irp/<name>`` for a table at ``<parent>/<name>`` (any fsspec URL; a bare name is relative)."""
    protocol, sep, rest = path.rstrip("/").rpartition("://")
    where = rest if sep else path.rstrip("/")
    parent, name = posixpath.split(where)
    if not name:
        raise ValueError(f"output.path {path!r} names no folder to keep the job's records beside; give output.records")
    folder = posixpath.join(parent, RECORDS_DIR, name) if parent else posixpath.join(RECORDS_DIR, name)
    return f"{protocol}{sep}{folder}"


def output_store(output: OutputConfig) -> StoreRef:
    """The table an output block publishes, with its records folder (a Parquet directory stages parts there)."""
    return StoreRef(
        output.format,
        output.path,
        output.table or "",
        output.dsn or "",
        output.storage_options,
        records=records_of(output),
    )


def source_store(source: SourceConfig) -> StoreRef | None:
    """The store table a source block reads, or None for files."""
    fmt = source.format
    if fmt not in STORE_FORMATS:  # source.is_store, spelled so that the type checker narrows the format
        return None
    return StoreRef(
        fmt,
        source.path,
        source.table or "",
        source.dsn or "",
        source.storage_options,
        source.id_column,
        source.content_column or "embedding",
    )
