"""A :class:`~pipeline.io.stores.base.VectorStore` on PostgreSQL with pgvector: staging tables, one swap per publish.

Layout of a published table: ``id`` (``bigint`` for integer ids, else ``text``) PRIMARY KEY, ``embedding vector(d)``
and ``content_hash text``; its ``COMMENT`` is ``{"irp": provenance}`` as JSON.

Write tasks :meth:`~PgVectorStore.stage` their shard into ``<table>__irp_<run[:12]>`` (the same columns plus
``irp_part``), each part replacing what it staged before. :meth:`~PgVectorStore.publish` then runs ONE transaction:
keep only the published parts, add the primary key, build the vector index, drop the live table, rename the staging
table (and its key and index) into its place and set the comment. Readers wait on the swap's lock for an instant and
then see the old table or the new one, never a half one; a failure anywhere rolls all of it back, staging included,
so a rerun can stage and publish again.

Indexes: ``hnsw`` (``m``, ``ef_construction``) or ``ivfflat`` (``num_partitions`` lists, default sqrt(rows)), with
``cosine``/``l2``/``dot`` -> ``vector_cosine_ops``/``vector_l2_ops``/``vector_ip_ops``. pgvector indexes ``vector``
up to 2,000 dimensions; from 2,001 to 4,000 the index is built on the expression ``(embedding::halfvec(d))`` with
the ``halfvec_*_ops`` class, so queries must order by ``embedding::halfvec(d) <=> $1::halfvec(d)`` to use it; past
4,000 publishing with an index raises ``ValueError``.

The DSN may hold a password: it is never put in a message, a log line or a returned dict.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Mapping, Sequence
from itertools import repeat
from typing import Any

import psycopg
import pyarrow as pa
from psycopg import sql

from pipeline.io.stores.base import PROVENANCE_KEY, IndexSpec, StoreRef
from pipeline.io.stores.pg_sql import (
    COLUMNS,
    TableName,
    big_endian,
    check_columns,
    coerce_ids,
    column_types,
    connect,
    copy_rows,
    index_statement,
    regclass_text,
    short_name,
    split_rows,
    to_arrow,
    vector_dim,
)
from pipeline.io.stores.pg_staging import (
    PART_COLUMN,
    add_primary_key,
    create_staging,
    index_name,
    keep_parts,
    lock,
    pkey_name,
    swap,
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
        db = self._db()
        row = db.execute("SELECT obj_description(to_regclass(%s), 'pg_class')",
                         [regclass_text(db, self._name)]).fetchone()
        try:
            doc = json.loads(row[0]) if row and row[0] else {}
        except ValueError:
            return {}
        value = doc.get(PROVENANCE_KEY) if isinstance(doc, dict) else None
        return dict(value) if isinstance(value, dict) else {}

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
        where, params = sql.SQL(""), []
        if ids is not None:
            where, params = sql.SQL(" WHERE {} = ANY(%s)").format(key), [list(ids)]
        query = sql.SQL("SELECT {} FROM {}{} ORDER BY {}").format(
            sql.SQL(", ").join(map(sql.Identifier, names)), self._name.ident(), where, key)
        return to_arrow(names, [types[name] for name in names], self._fetch(query, params))

    def _types_or_raise(self) -> dict[str, str]:
        types = column_types(self._db(), self._name)
        if not types:
            raise LookupError(f"PostgreSQL table {self._name} does not exist")
        return types

    def _fetch(self, query: sql.Composable, params: Sequence[Any] = ()) -> list[tuple]:
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

        Safe to call from many processes at once for different parts of one run.

        Returns:
            ``{"rows": n, "dim": d}``.
        """
        ids, vectors, hashes, id_type = split_rows(rows)
        staging, db = self._staging(run), self._db()
        create_staging(db, staging, id_type, vectors.shape[1])
        with db.transaction(), db.cursor() as cur:
            cur.execute(sql.SQL("DELETE FROM {} WHERE {} = %s").format(staging.ident(), sql.Identifier(PART_COLUMN)),
                        [part])
            copy_rows(cur, staging.ident(), (*COLUMNS, PART_COLUMN), (id_type, "vector", "text", "text"),
                      zip(coerce_ids(ids, id_type), big_endian(vectors), hashes, repeat(part)))
        return {"rows": len(ids), "dim": int(vectors.shape[1])}

    def discard(self, run: str) -> None:
        """Drop the run's staging table, if any."""
        self._db().execute(sql.SQL("DROP TABLE IF EXISTS {}").format(self._staging(run).ident()))

    def publish(self, staged: Mapping[str, Mapping[str, Any]], provenance: Mapping[str, Any],
                index: IndexSpec | None, run: str) -> dict[str, Any]:
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
            lock(db, f"irp-publish:{self._name}")  # one publish of a table at a time
            wanted = provenance.get("publish_id")
            if wanted is not None and self.provenance().get("publish_id") == wanted:
                return {"version": self._version(), "rows": self._count(), "published": False}
            types = column_types(db, staging)
            if PART_COLUMN not in types:
                raise RuntimeError(f"nothing is staged for run {run[:12]!r} of PostgreSQL table {self._name}")
            rows = keep_parts(db, staging, staged)
            add_primary_key(db, staging, self._name)
            if index is not None:  # built before the swap: the table goes live already indexed
                db.execute(index_statement(index, staging, index_name(staging.name),
                                           vector_dim(types[EMBEDDING_COLUMN]) or 0, rows))
            db.execute(sql.SQL("ANALYZE {}").format(staging.ident()))  # row estimates for plan_pages and queries
            swap(db, staging, self._name, provenance)
            version = self._version()
        log.info("published %s: %d rows, version %s", self.ref.describe(), rows, version)
        return {"version": version, "rows": rows, "published": True}

    def _version(self) -> int | None:
        """The (32-bit) id of the transaction that last renamed the table into place, i.e. published it."""
        db = self._db()
        row = db.execute("SELECT xmin::text::bigint FROM pg_class WHERE oid = to_regclass(%s)",
                         [regclass_text(db, self._name)]).fetchone()
        return int(row[0]) if row else None

    def _count(self) -> int:
        return int(self._db().execute(sql.SQL("SELECT count(*) FROM {}").format(self._name.ident())).fetchone()[0])

    # -- incremental writes --------------------------------------------------------------------------------

    def upsert(self, rows: pa.Table) -> dict[str, int]:
        """Insert new ids, update ids whose ``content_hash`` changed, leave equal-hash rows unwritten.

        Creates the table on first use. One transaction: binary COPY into a temp table, then one
        ``INSERT ... ON CONFLICT``; ``xmax = 0`` on a returned row means it was inserted, not updated.

        Returns:
            ``{"inserted": a, "updated": b, "unchanged": c}``.
        """
        ids, vectors, hashes, id_type = split_rows(rows)
        db = self._db()
        with db.transaction(), db.cursor() as cur:
            id_type = self._ensure_table(id_type, vectors.shape[1])
            cur.execute(sql.SQL("CREATE TEMP TABLE irp_upsert (id {}, embedding vector({}), content_hash text) "
                                "ON COMMIT DROP").format(sql.SQL(id_type), sql.SQL(str(int(vectors.shape[1])))))
            copy_rows(cur, sql.Identifier("irp_upsert"), COLUMNS, (id_type, "vector", "text"),
                      zip(coerce_ids(ids, id_type), big_endian(vectors), hashes, strict=True))
            try:
                cur.execute(sql.SQL(
                    "INSERT INTO {} AS t (id, embedding, content_hash) SELECT id, embedding, content_hash "
                    "FROM irp_upsert ON CONFLICT (id) DO UPDATE SET embedding = EXCLUDED.embedding, "
                    "content_hash = EXCLUDED.content_hash "
                    "WHERE t.content_hash IS DISTINCT FROM EXCLUDED.content_hash "
                    "RETURNING (xmax = 0) AS inserted").format(self._name.ident()))
            except psycopg.errors.CardinalityViolation:
                raise ValueError(f"upsert into PostgreSQL table {self._name} repeats an id within one batch") from None
            written = [row[0] for row in cur.fetchall()]
        inserted = sum(written)
        return {"inserted": inserted, "updated": len(written) - inserted, "unchanged": len(ids) - len(written)}

    def _ensure_table(self, id_type: str, dim: int) -> str:
        """Create the live table when missing (a first nightly run); returns its id column's type."""
        db = self._db()
        lock(db, f"irp-publish:{self._name}")
        db.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} (id {} CONSTRAINT {} PRIMARY KEY, "
                           "embedding vector({}) NOT NULL, content_hash text)").format(
            self._name.ident(), sql.SQL(id_type), sql.Identifier(pkey_name(self._name.name)),
            sql.SQL(str(int(dim)))))
        return column_types(db, self._name)[ID_COLUMN]

    def delete(self, ids: Sequence[Any]) -> int:
        """Delete rows by id; returns how many were deleted (0 when the table does not exist)."""
        types = column_types(self._db(), self._name)
        if not types or len(ids) == 0:
            return 0
        id_type = types[ID_COLUMN]
        with self._db().transaction(), self._db().cursor() as cur:
            cur.execute(sql.SQL("DELETE FROM {} WHERE id = ANY(%s::{}[])").format(self._name.ident(),
                                                                                  sql.SQL(id_type)),
                        [coerce_ids(list(ids), id_type)])
            return cur.rowcount

    # -- sharded reads (the table as a source) -------------------------------------------------------------

    def plan_pages(self, rows_per_shard: int) -> list[tuple[int, int]]:
        """``[start, end)`` heap page ranges of about ``rows_per_shard`` rows each, covering every page.

        The ranges cover the pages the table has now; rows added later may land on later pages and be missed,
        so the source table must not change while a job reads it. Empty table: ``[]``.
        """
        if rows_per_shard < 1:
            raise ValueError(f"rows_per_shard must be positive, not {rows_per_shard}")
        db = self._db()
        row = db.execute("SELECT pg_relation_size(oid) / current_setting('block_size')::bigint, relpages, "
                         "reltuples FROM pg_class WHERE oid = to_regclass(%s)", [regclass_text(db, self._name)]
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

    def read_pages(self, pages: Sequence[int], id_column: str | Sequence[str] = ID_COLUMN,
                   content_column: str | None = EMBEDDING_COLUMN) -> pa.Table:
        """The rows on heap pages ``[start, end)`` (a TID range scan on PostgreSQL 14+), in physical order.

        Args:
            pages: one ``(start, end)`` of :meth:`plan_pages`.
            id_column, content_column: the two columns to read; or ``id_column`` a list of column names.

        Returns:
            The columns under their own names: vectors as ``fixed_size_list<float32>[d]``, text as string,
            integers as int64/int32.
        """
        start, end = (int(page) for page in pages)
        if not 0 <= start < end:
            raise ValueError(f"page range must be [start, end) with 0 <= start < end, not {pages!r}")
        names = [id_column, content_column] if isinstance(id_column, str) else list(id_column)
        types = self._types_or_raise()
        check_columns(names, types, self._name)
        query = sql.SQL("SELECT {} FROM {} WHERE ctid >= %s::tid AND ctid < %s::tid").format(
            sql.SQL(", ").join(map(sql.Identifier, names)), self._name.ident())
        rows = self._fetch(query, [f"({start},0)", f"({end},0)"])
        return to_arrow(names, [types[name] for name in names], rows)
