"""What every store offers the pipeline: where a table lives, and the :class:`VectorStore` protocol.

A job writes a table in two steps. Write tasks *stage* their shard's rows next to the live table (parts in the
records folder for a Parquet directory, Lance fragments, Parquet files for Delta, rows of a staging table in
PostgreSQL) and return a small JSON record of what they staged. The driver then *publishes* every staged shard at
once: one Lance or Delta commit, or one PostgreSQL transaction that swaps the staging table in, with the index built
first (a Parquet directory swaps its parts in file by file, :mod:`pipeline.io.stores.parquet`). Until then readers
see the previous table, whole; a killed job leaves it untouched, and a rerun reuses the shards already staged.

Store rows are ``id``, ``embedding`` and ``content_hash`` (a digest of the content the vector was made from), so
later runs can upsert only the rows whose content changed, and delete rows by id.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import pyarrow as pa

from pipeline.config import IndexSpec, OutputFormat

CONTENT_HASH_COLUMN = "content_hash"
# Text columns a nightly store carries per row, when its rows have them: the space the vector is in, ``native`` or
# ``translated``, and the run that wrote it. A store keeps whichever of them its first rows had.
ROW_FACTS = ("space", "origin", "run")
PROVENANCE_KEY = "irp"  # one JSON document of provenance under one key, in each store's own metadata


@dataclasses.dataclass(frozen=True)
class StoreRef:
    """One table in one store, as a config names it. Holds no connection, so it ships to every task.

    Attributes:
        format: one of ``pipeline.config.OUTPUT_FORMATS``: a Parquet directory or a store.
        path: the Parquet directory, the LanceDB database folder, or the Delta table folder (fsspec-style URL);
            unused by pgvector.
        table: the table name in a LanceDB database or a PostgreSQL schema; unused by Delta.
        dsn: a libpq connection string for pgvector. It may hold a password, so it is never shown: not in
            ``repr``, :meth:`describe`, logs, manifests, metadata or error messages.
        storage_options: object-store options (credentials) for Lance and Delta; never shown either.
        id_column, vector_column: the columns read as ``id`` and ``embedding`` when the table is a source.
        records: the records folder of the table (``pipeline.io.stores.layout``), where a Parquet directory stages
            the parts of a version before it publishes them.
    """

    format: OutputFormat
    path: str = ""
    table: str = ""
    dsn: str = dataclasses.field(default="", repr=False)
    storage_options: Mapping[str, Any] = dataclasses.field(default_factory=dict, repr=False)
    id_column: str = "id"
    vector_column: str = "embedding"
    records: str = ""

    def describe(self) -> str:
        """A name for logs and reports that carries no secret: ``lancedb:stores/bbc.lancedb#docs``."""
        where = {"lancedb": f"{self.path}#{self.table}", "pgvector": self.table}
        return f"{self.format}:{where.get(self.format, self.path)}"


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

    def publish(
        self,
        staged: Mapping[str, Mapping[str, Any]],
        provenance: Mapping[str, Any],
        index: IndexSpec | None,
        run: str,
        details: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Replace the table with exactly the staged shards, in one atomic step, index built first.

        ``provenance`` (which carries ``publish_id``) goes into the table's metadata. When the live table already
        carries that ``publish_id`` (a rerun after a publish that was not recorded), nothing is done. ``details``
        (the job's manifest: config, per-shard counts) go where the table keeps such things, if it has a place
        for them: a Parquet directory's ``_manifest.json``.

        Returns:
            ``{"version": ..., "rows": n, "published": bool}``.
        """

    def check_staged(self, part: str, staged: Mapping[str, Any], run: str) -> str | None:
        """Why what ``part`` staged (``staged``, as :meth:`stage` returned it) can no longer be trusted, so a rerun
        redoes its shard; None when it is whole. A store whose staged pieces only its own publish can remove
        trusts them."""

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
    if pa.types.is_fixed_size_list(values.type) or pa.types.is_list(values.type) or pa.types.is_large_list(values.type):
        from pipeline.io.tables import vectors_of

        return pa.array([_digest(row.tobytes()) for row in vectors_of(values)], pa.string())
    if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
        # The text's own bytes (its UTF-8): a reader can pass invalid UTF-8 through, which str() would refuse.
        values = values.cast(pa.large_binary())
    return pa.array(
        [
            None if value is None else _digest(value if isinstance(value, bytes) else value.encode())
            for value in values.to_pylist()
        ],
        pa.string(),
    )


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def publish_id(run: str, shards: Mapping[str, Any]) -> str:
    """Names one publish: the job's staging id and exactly which shards it stages (``{part: shard key}``, so a
    shard redone because its input changed makes it another publish), as a digest."""
    return hashlib.sha256(json.dumps([run, sorted(shards.items())], sort_keys=True, default=str).encode()).hexdigest()[
        :24
    ]
