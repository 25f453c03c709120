"""What every vector store offers the pipeline: where a table lives, its index, and the :class:`VectorStore` protocol.

A job writes a store table in two steps. Write tasks *stage* their shard's rows next to the live table (Lance
fragments, Parquet files for Delta, rows of a staging table in PostgreSQL) and return a small JSON record of what
they staged. The driver then *publishes* every staged shard at once: one Lance or Delta commit, or one PostgreSQL
transaction that swaps the staging table in, with the index built first. Until then readers see the previous
table, whole; a killed job leaves it untouched, and a rerun reuses the shards already staged.

Store rows are ``id``, ``embedding`` and ``content_hash`` (a digest of the content the vector was made from), so
later runs can upsert only the rows whose content changed, and delete rows by id.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal, Protocol

import pyarrow as pa

STORE_FORMATS = ("delta", "lancedb", "pgvector")
CONTENT_HASH_COLUMN = "content_hash"
# Text columns a nightly store carries per row, when its rows have them: the space the vector is in, ``native`` or
# ``translated``, and the run that wrote it. A store keeps whichever of them its first rows had.
ROW_FACTS = ("space", "origin", "run")
PROVENANCE_KEY = "irp"  # one JSON document of provenance under one key, in each store's own metadata


@dataclasses.dataclass(frozen=True)
class StoreRef:
    """One table in one store, as a config names it. Holds no connection, so it ships to every task.

    Attributes:
        format: one of :data:`STORE_FORMATS`.
        path: the LanceDB database folder, or the Delta table folder (fsspec-style URL); unused by pgvector.
        table: the table name in a LanceDB database or a PostgreSQL schema; unused by Delta.
        dsn: a libpq connection string for pgvector. It may hold a password, so it is never shown: not in
            ``repr``, :meth:`describe`, logs, manifests, metadata or error messages.
        storage_options: object-store options (credentials) for Lance and Delta; never shown either.
        id_column, vector_column: the columns read as ``id`` and ``embedding`` when the table is a source.
    """

    format: str
    path: str = ""
    table: str = ""
    dsn: str = dataclasses.field(default="", repr=False)
    storage_options: Mapping[str, Any] = dataclasses.field(default_factory=dict, repr=False)
    id_column: str = "id"
    vector_column: str = "embedding"

    def describe(self) -> str:
        """A name for logs and reports that carries no secret: ``lancedb:stores/bbc.lancedb#docs``."""
        where = {"lancedb": f"{self.path}#{self.table}", "delta": self.path, "pgvector": self.table}
        return f"{self.format}:{where.get(self.format, self.path)}"


@dataclasses.dataclass(frozen=True)
class IndexSpec:
    """The vector index a published table gets, built before it is published.

    Attributes:
        kind: ``ivf_pq`` or ``ivf_hnsw_sq`` (LanceDB), ``hnsw`` or ``ivfflat`` (pgvector).
        metric: ``cosine``, ``l2`` or ``dot``.
        num_partitions: IVF lists; None lets the store choose (about sqrt(rows)).
        num_sub_vectors: PQ sub-vectors (LanceDB); None uses d/8, since the default d/16 loses recall.
        m, ef_construction: HNSW graph degree and build beam (pgvector).
    """

    kind: Literal["ivf_pq", "ivf_hnsw_sq", "hnsw", "ivfflat"]
    metric: Literal["cosine", "l2", "dot"] = "cosine"
    num_partitions: int | None = None
    num_sub_vectors: int | None = None
    m: int = 16
    ef_construction: int = 64


    def problems(self) -> list[str]:
        found = [] if self.num_partitions is None or self.num_partitions >= 1 else ["num_partitions: must be >= 1"]
        if self.num_sub_vectors is not None and self.num_sub_vectors < 1:
            found.append("num_sub_vectors: must be >= 1")
        return found + ([] if self.m >= 2 and self.ef_construction >= 1 else ["m: must be >= 2, ef_construction >= 1"])


INDEX_KINDS = {"lancedb": ("ivf_pq", "ivf_hnsw_sq"), "pgvector": ("hnsw", "ivfflat"), "delta": ()}


class VectorStore(Protocol):
    """One table of one store: staged writes with one atomic publish, upsert and delete, sharded reads."""

    ref: StoreRef

    def exists(self) -> bool:
        """Whether the table has been published."""

    def stage(self, part: str, rows: pa.Table, run: str) -> dict[str, Any]:
        """Write one shard's rows beside the live table, invisible to readers; runs in a write task.

        Args:
            part: the shard's part name (``part-00012``); staging it again replaces what it staged before.
            rows: ``id``, ``embedding`` (``fixed_size_list<float32>[d]``) and ``content_hash``.
            run: the job's staging id (from its fingerprint): staged pieces of other jobs are never mixed in.

        Returns:
            JSON-ready facts that :meth:`publish` needs about this shard (e.g. Lance fragment metadata).
        """

    def publish(self, staged: Mapping[str, Mapping[str, Any]], provenance: Mapping[str, Any],
                index: IndexSpec | None, run: str) -> dict[str, Any]:
        """Replace the table with exactly the staged shards, in one atomic step, index built first.

        ``provenance`` (which carries ``publish_id``) goes into the table's metadata. When the live table already
        carries that ``publish_id`` (a rerun after a publish that was not recorded), nothing is done.

        Returns:
            ``{"version": ..., "rows": n, "published": bool}``.
        """

    def discard(self, run: str) -> None:
        """Remove what ``run`` staged and never published (an abandoned or replaced job)."""

    def provenance(self) -> dict[str, Any]:
        """The provenance the live table carries; empty for a foreign or missing table."""

    def upsert(self, rows: pa.Table) -> dict[str, int]:
        """Insert new ids and update ids whose ``content_hash`` differs; rows with an equal hash are not written.

        Returns:
            ``{"inserted": a, "updated": b, "unchanged": c}``.
        """

    def delete(self, ids: Sequence[Any]) -> int:
        """Delete rows by id; returns how many were deleted."""

    def merge(self, upserts: pa.Table, deletes: Sequence[Any]) -> dict[str, Any]:
        """Apply a night's changes as ONE new version: insert or replace the rows of ``upserts`` (whole rows, by
        id, whatever their hash: a backfill replaces a translated vector with a native one of the same content),
        and delete the ids in ``deletes``. Applying the same merge twice leaves the same rows.

        Returns:
            ``{"version": ..., "upserted": a, "deleted": b}``.
        """

    def read(self, columns: Sequence[str] | None = None, ids: Sequence[Any] | None = None) -> pa.Table:
        """The live table, or only the rows of ``ids`` (anchors out of a corpus); jobs read shards instead."""


def content_hashes(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """``(n,)`` strings: a 128-bit BLAKE2b digest of each row's content (text as UTF-8, bytes, or a vector's
    float32 bytes), so a later run can tell changed content from unchanged without the model."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if pa.types.is_fixed_size_list(values.type) or pa.types.is_list(values.type) or pa.types.is_large_list(
            values.type):
        from pipeline.io.tables import vectors_of

        return pa.array([_digest(row.tobytes()) for row in vectors_of(values)], pa.string())
    if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
        # The text's own bytes (its UTF-8): a reader can pass invalid UTF-8 through, which str() would refuse.
        values = values.cast(pa.large_binary())
    return pa.array([None if value is None else _digest(value if isinstance(value, bytes) else value.encode())
                     for value in values.to_pylist()], pa.string())


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def publish_id(run: str, staged: Mapping[str, Mapping[str, Any]]) -> str:
    """Names one publish: the job's staging id and exactly which shards it stages, as a digest."""
    return hashlib.sha256(json.dumps([run, sorted(staged)], sort_keys=True).encode()).hexdigest()[:24]
