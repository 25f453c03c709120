"""A :class:`~pipeline.io.stores.base.VectorStore` on PostgreSQL with pgvector: staging tables, one swap per publish.

Layout of a published table: ``id`` (``bigint`` for integer ids, else ``text``) PRIMARY KEY, ``embedding vector(d)``,
``content_hash text``, then as ``text`` whichever of the row facts (``space``, ``origin``, ``run``) its first rows
had; its ``COMMENT`` is ``{"irp": provenance}`` as JSON.

Write tasks :meth:`~PgVectorStore.stage` their shard into ``<table>__irp_<run[:12]>`` (the same columns plus
``irp_part``), each part replacing what it staged before. :meth:`~PgVectorStore.publish` then runs ONE transaction:
keep only the published parts, add the primary key, build the vector index, drop the live table, rename the staging
table (and its key and index) into its place and set the comment. Readers wait on the swap's lock for an instant and
then see the old table or the new one, never a half one; a failure anywhere rolls all of it back, staging included,
so a rerun can stage and publish again. :meth:`~PgVectorStore.upsert` and :meth:`~PgVectorStore.merge` change rows
in place, each in one transaction (binary COPY into a temp table, ``INSERT ... ON CONFLICT``, and for merge a
``DELETE``), creating the table when missing.

Indexes: ``hnsw`` (``m``, ``ef_construction``) or ``ivfflat`` (``num_partitions`` lists, default sqrt(rows)), with
``cosine``/``l2``/``dot`` -> ``vector_cosine_ops``/``vector_l2_ops``/``vector_ip_ops``. pgvector indexes ``vector``
up to 2,000 dimensions; from 2,001 to 4,000 the index is built on the expression ``(embedding::halfvec(d))`` with
the ``halfvec_*_ops`` class, so queries must order by ``embedding::halfvec(d) <=> $1::halfvec(d)`` to use it; past
4,000 publishing with an index raises ``ValueError``.

The DSN may hold a password: it is never put in a message, a log line or a returned dict.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import psycopg
import pyarrow as pa
from psycopg import sql

from pipeline.config import IndexSpec
from pipeline.io.stores.base import StoreRef
from pipeline.io.stores.pg_sql import (
    Batch,
    TableName,
    batch_of,
    check_columns,
    column_types,
    connect,
    copy_rows,
    regclass_text,
    short_name,
    to_arrow,
)
from pipeline.io.stores.pg_staging import (
    PART_COLUMN,
    check_layout,
    create_staging,
    create_table,
    delete_ids,
    go_live,
    load_temp,
    lock,
    published_version,
    read_provenance,
    transaction_id,
    write_rows,
)
from pipeline.io.tables import EMBEDDING_COLUMN, ID_COLUMN

log = logging.getLogger(__name__)


class PgVectorStore:
    """One pgvector table named by ``StoreRef(format="pgvector", table="[schema.]name", dsn=...)``.

    Connects on first use (one connection per store object; not shipped when pickled). ``close()`` it, or use it
    as a context manager. The schema of a qualified name must already exist.
    """

    def __init__(self, ref: StoreRef) -> None:
        if ref.format != "pgvector":
            raise ValueError(f"PgVectorStore needs a pgvector StoreRef, not {ref.format!r}")
        if not ref.table or not ref.dsn:
            raise ValueError(f"a pgvector store needs a table and a dsn (table {ref.table!r})")
        self.ref = ref
        self._name = TableName.parse(ref.table)
        self._conn: psycopg.Connection | None = None

    def __repr__(self) -> str:
        return f"PgVectorStore({self.ref.describe()})"

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_conn": None}

    def __enter__(self) -> PgVectorStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection, if one was opened; the store reconnects when used again."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __del__(self) -> None:  # a store dropped unclosed (a task's handle) closes quietly, without psycopg's warning
        with contextlib.suppress(Exception):
            self.close()

    def _db(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            self._conn = connect(self.ref.dsn, str(self._name))
        return self._conn

    # -- the live table ------------------------------------------------------------------------------------

    def exists(self) -> bool:
        """Whether the table exists (published, or created by a first :meth:`upsert`)."""
        return bool(column_types(self._db(), self._name))

    def provenance(self) -> dict[str, Any]:
        """The ``provenance`` the last publish put in the table's comment; {} when missing or not ours."""
        return read_provenance(self._db(), self._name)

    def read(self, columns: Sequence[str] | None = None, ids: Sequence[Any] | None = None) -> pa.Table:
        """The table (or the rows of ``ids``) ordered by id: ``id``, ``embedding`` (``fixed_size_list<float32>[d]``),
        ``content_hash``.

        Raises:
            LookupError: the table does not exist.
        """
        types = self._types_or_raise()
        names = list(columns) if columns is not None else list(types)
        check_columns(names, types, self._name)
        key = sql.Identifier(self.ref.id_column)
        where: sql.Composable = sql.SQL("")
        params: list[Any] = []
        if ids is not None:
            where, params = sql.SQL(" WHERE {} = ANY(%s)").format(key), [list(ids)]
        query = sql.SQL("SELECT {} FROM {}{} ORDER BY {}").format(
            sql.SQL(", ").join(map(sql.Identifier, names)), self._name.ident(), where, key
        )
        return to_arrow(names, [types[name] for name in names], self._fetch(query, params))

    def _types_or_raise(self) -> dict[str, str]:
        types = column_types(self._db(), self._name)
        if not types:
            raise LookupError(f"PostgreSQL table {self._name} does not exist")
        return types

    def _fetch(self, query: sql.SQL | sql.Composed, params: Sequence[Any] = ()) -> list[tuple]:
        """One statement with binary results: vectors arrive as float32 numpy arrays, not text to parse."""
        with self._db().cursor(binary=True) as cur:
            cur.execute(query, params)
            return cur.fetchall()

    # -- staged writes -------------------------------------------------------------------------------------

    def _staging(self, run: str) -> TableName:
        if not run:
            raise ValueError("a staging run id is required")
        return self._name.sibling(short_name(self._name.name, f"__irp_{run[:12]}"))

    def stage(self, part: str, rows: pa.Table, run: str) -> dict[str, Any]:
        """Replace ``part``'s rows in the run's staging table by ``rows`` (binary COPY, one transaction).

        Safe to call from many processes at once for different parts of one run. The first part's fact columns
        make the staging table's; every later part must have the same ones.

        Returns:
            ``{"rows": n, "dim": d}``.
        """
        batch, staging, db = batch_of(rows), self._staging(run), self._db()
        create_staging(db, staging, batch)
        types = column_types(db, staging)
        check_layout(types, batch, staging)
        with db.transaction(), db.cursor() as cur:
            cur.execute(
                sql.SQL("DELETE FROM {} WHERE {} = %s").format(staging.ident(), sql.Identifier(PART_COLUMN)), [part]
            )
            copy_rows(
                cur,
                staging.ident(),
                (*batch.columns, PART_COLUMN),
                (*batch.types(types[ID_COLUMN]), "text"),
                batch.records(types[ID_COLUMN], [part] * len(batch.ids)),
            )
        return {"rows": len(batch.ids), "dim": batch.dim}

    def check_staged(self, part: str, staged: Mapping[str, Any], run: str) -> str | None:
        """Staged rows are removed only by a publish or :meth:`discard`: trusted."""
        return None

    def discard(self, run: str) -> None:
        """Drop the run's staging table, if any."""
        self._db().execute(sql.SQL("DROP TABLE IF EXISTS {}").format(self._staging(run).ident()))

    def publish(
        self,
        staged: Mapping[str, Mapping[str, Any]],
        provenance: Mapping[str, Any],
        index: IndexSpec | None,
        run: str,
        details: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Swap in exactly the ``staged`` parts of ``run``, index built first, in one transaction.

        Returns:
            ``{"version": xid of the publishing transaction, "rows": n, "published": bool}``; ``published`` is
            False (and nothing changes) when the table already carries ``provenance["publish_id"]``.

        Raises:
            ValueError: two staged rows share an id (the message names the table and one such id), or ``index``
                asks for something pgvector cannot build.
            RuntimeError: nothing is staged for ``run``, or a part's row count differs from its stage record.
        """
        staging, db = self._staging(run), self._db()
        with db.transaction():
            self._write_lock()  # one publish of a table at a time
            wanted = provenance.get("publish_id")
            if wanted is not None and self.provenance().get("publish_id") == wanted:
                return {"version": self._version(), "rows": self._count(), "published": False}
            if PART_COLUMN not in column_types(db, staging):
                raise RuntimeError(f"nothing is staged for run {run[:12]!r} of PostgreSQL table {self._name}")
            rows = go_live(db, staging, self._name, staged, provenance, index)
            version = self._version()
        log.info("published %s: %d rows, version %s", self.ref.describe(), rows, version)
        return {"version": version, "rows": rows, "published": True}

    def _version(self) -> int | None:
        return published_version(self._db(), self._name)

    def _count(self) -> int:
        row = self._db().execute(sql.SQL("SELECT count(*) FROM {}").format(self._name.ident())).fetchone()
        if row is None:  # count(*) always gives one row
            raise RuntimeError(f"PostgreSQL returned no count for table {self._name}")
        return int(row[0])

    # -- incremental writes --------------------------------------------------------------------------------

    def upsert(self, rows: pa.Table) -> dict[str, int]:
        """Insert new ids, update ids whose ``content_hash`` changed, leave equal-hash rows unwritten.

        Creates the table on first use, with the fact columns ``rows`` have. One transaction: binary COPY into a
        temp table, then one ``INSERT ... ON CONFLICT``.

        Returns:
            ``{"inserted": a, "updated": b, "unchanged": c}``.

        Raises:
            ValueError: ``rows`` repeat an id, or do not have the table's fact columns or vector width.
        """
        batch, db = batch_of(rows), self._db()
        with db.transaction(), db.cursor() as cur:
            self._write_lock()
            temp = load_temp(cur, "irp_upsert", batch, self._ensure_table(batch))
            written = write_rows(cur, self._name, temp, batch.columns, only_changed=True)
        inserted = sum(written)
        return {"inserted": inserted, "updated": len(written) - inserted, "unchanged": len(batch.ids) - len(written)}

    def merge(self, upserts: pa.Table, deletes: Sequence[Any]) -> dict[str, Any]:
        """Apply a night's changes in ONE transaction, so readers see all of them or none: insert or replace
        (whole rows, whatever their ``content_hash``) the rows of ``upserts``, then delete the ids in ``deletes``.

        A missing table is created from ``upserts`` (nothing is created when ``upserts`` is empty). Applying the
        same merge twice leaves the same rows; unknown ids in ``deletes`` are ignored.

        Returns:
            ``{"version": the transaction's id (like publish's), "upserted": a, "deleted": b}``.

        Raises:
            ValueError: ``upserts`` repeat an id, or do not have the table's fact columns or vector width.
        """
        batch, db = (batch_of(upserts) if upserts.num_rows else None), self._db()
        with db.transaction(), db.cursor() as cur:
            self._write_lock()
            upserted = 0
            if batch is not None:
                temp = load_temp(cur, "irp_merge", batch, self._ensure_table(batch))
                upserted = len(write_rows(cur, self._name, temp, batch.columns, only_changed=False))
            deleted = self._delete(cur, deletes)
            version = transaction_id(db)
        log.info("merged into %s: %d upserted, %d deleted, version %s", self.ref.describe(), upserted, deleted, version)
        return {"version": version, "upserted": upserted, "deleted": deleted}

    def _write_lock(self) -> None:
        """Serializes the table's writers (publish, upsert, merge) until the caller's transaction ends: a merge
        must not run between a publish's check and its swap."""
        lock(self._db(), f"irp-publish:{self._name}")

    def _ensure_table(self, batch: Batch) -> str:
        """Create the live table from ``batch`` when missing, check that ``batch`` fits it; returns its id type."""
        create_table(self._db(), self._name, batch)
        types = column_types(self._db(), self._name)
        check_layout(types, batch, self._name)
        return types[ID_COLUMN]

    def delete(self, ids: Sequence[Any]) -> int:
        """Delete rows by id; returns how many were deleted (0 when the table does not exist)."""
        with self._db().transaction(), self._db().cursor() as cur:
            return self._delete(cur, ids)

    def _delete(self, cur: psycopg.Cursor, ids: Sequence[Any]) -> int:
        types = column_types(self._db(), self._name)
        if not types or len(ids) == 0:
            return 0
        return delete_ids(cur, self._name, types[ID_COLUMN], ids)

    # -- sharded reads (the table as a source) -------------------------------------------------------------

    def plan_pages(self, rows_per_shard: int) -> list[tuple[int, int]]:
        """``[start, end)`` heap page ranges of about ``rows_per_shard`` rows each, covering every page.

        The ranges cover the pages the table has now; rows added later may land on later pages and be missed,
        so the source table must not change while a job reads it. Empty table: ``[]``.
        """
        if rows_per_shard < 1:
            raise ValueError(f"rows_per_shard must be positive, not {rows_per_shard}")
        db = self._db()
        row = db.execute(
            "SELECT pg_relation_size(oid) / current_setting('block_size')::bigint, relpages, "
            "reltuples FROM pg_class WHERE oid = to_regclass(%s)",
            [regclass_text(db, self._name)],
        ).fetchone()
        if row is None:
            raise LookupError(f"PostgreSQL table {self._name} does not exist")
        pages, stat_pages, tuples = int(row[0]), int(row[1]), float(row[2])
        if pages == 0:
            return []
        if tuples < 0 or stat_pages == 0:  # never analyzed (reltuples -1): count once
            tuples, stat_pages = float(self._count()), pages
        per_page = tuples / stat_pages
        step = pages if per_page <= 0 else max(1, int(rows_per_shard / per_page))
        return [(start, min(start + step, pages)) for start in range(0, pages, step)]

    def read_pages(
        self,
        pages: Sequence[int],
        id_column: str | Sequence[str] = ID_COLUMN,
        content_column: str | None = EMBEDDING_COLUMN,
    ) -> pa.Table:
        """The rows on heap pages ``[start, end)`` (a TID range scan on PostgreSQL 14+), in physical order.

        Args:
            pages: one ``(start, end)`` of :meth:`plan_pages`.
            id_column, content_column: the two columns to read (``content_column`` None: the ids alone); or
                ``id_column`` a list of column names.

        Returns:
            The columns under their own names: vectors as ``fixed_size_list<float32>[d]``, text as string,
            integers as int64/int32.
        """
        start, end = (int(page) for page in pages)
        if not 0 <= start < end:
            raise ValueError(f"page range must be [start, end) with 0 <= start < end, not {pages!r}")
        if isinstance(id_column, str):
            names = [id_column] if content_column is None else [id_column, content_column]
        else:
            names = list(id_column)
        types = self._types_or_raise()
        check_columns(names, types, self._name)
        query = sql.SQL("SELECT {} FROM {} WHERE ctid >= %s::tid AND ctid < %s::tid").format(
            sql.SQL(", ").join(map(sql.Identifier, names)), self._name.ident()
        )
        rows = self._fetch(query, [f"({start},0)", f"({end},0)"])
        return to_arrow(names, [types[name] for name in names], rows)
