"""The pgvector store's write steps: the tables it creates (live, staging, temporary), the statements that fill
them, and the DDL of the publish transaction.

Every function runs on the caller's connection and inside the caller's transaction (``publish`` runs all of
:func:`go_live` as ONE transaction; ``upsert`` and ``merge`` run :func:`create_table`, :func:`load_temp`,
:func:`write_rows` and :func:`delete_ids` as one), so a failure in any step rolls back all of them and leaves the
staging table as the stage calls left it.

Every table has ``id``, ``embedding vector(d)``, ``content_hash text`` and then, as ``text``, the
:data:`~pipeline.io.stores.base.ROW_FACTS` its first rows had; later rows must have the same ones.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

import psycopg
from psycopg import sql

from pipeline.config import IndexSpec
from pipeline.io.stores.base import PROVENANCE_KEY, ROW_FACTS
from pipeline.io.stores.pg_sql import (
    Batch,
    TableName,
    coerce_ids,
    column_types,
    copy_rows,
    index_statement,
    regclass_text,
    short_name,
    vector_dim,
)
from pipeline.io.tables import EMBEDDING_COLUMN, ID_COLUMN

PART_COLUMN = "irp_part"  # which part staged a row; dropped at publish
_DUPLICATE_KEY = re.compile(r"Key \(id\)=\((.*)\) is duplicated")


def lock(db: psycopg.Connection, key: str) -> None:
    """A transaction-scoped advisory lock on ``key``, released at commit or rollback."""
    db.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [key])


def pkey_name(table: str) -> str:
    return short_name(table, "_pkey")


def index_name(table: str) -> str:
    return short_name(table, "_embedding_idx")


def create_staging(db: psycopg.Connection, staging: TableName, batch: Batch) -> None:
    """Create the staging table ``(id, embedding vector(d), content_hash, <facts>, irp_part)`` for ``batch``'s
    layout when missing.

    Its own short transaction: concurrent first stagers would race in CREATE ... IF NOT EXISTS (a unique
    violation in the catalog), so an advisory lock serializes them, but it must not be held during their COPYs.
    """
    with db.transaction():
        lock(db, f"irp-stage:{staging}")
        db.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (id {} NOT NULL, embedding vector({}) NOT NULL, content_hash text{}, "
                "{} text NOT NULL)"
            ).format(
                staging.ident(),
                sql.SQL(batch.id_type),
                sql.SQL(str(batch.dim)),
                _fact_ddl(batch),
                sql.Identifier(PART_COLUMN),
            )
        )
        # restaging a part deletes its old rows: without this index every stage would scan the whole table
        db.execute(
            sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} ({})").format(
                sql.Identifier(short_name(staging.name, "_part")), staging.ident(), sql.Identifier(PART_COLUMN)
            )
        )


def create_table(db: psycopg.Connection, table: TableName, batch: Batch) -> None:
    """Create the live table for ``batch``'s layout when missing (a first nightly run), keyed on ``id``."""
    db.execute(
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (id {} CONSTRAINT {} PRIMARY KEY, "
            "embedding vector({}) NOT NULL, content_hash text{})"
        ).format(
            table.ident(),
            sql.SQL(batch.id_type),
            sql.Identifier(pkey_name(table.name)),
            sql.SQL(str(batch.dim)),
            _fact_ddl(batch),
        )
    )


def _fact_ddl(batch: Batch) -> sql.Composable:
    """``, space text, run text``: the fact columns ``batch`` has, nullable (a row may not know one)."""
    return sql.SQL("").join(sql.SQL(", {} text").format(sql.Identifier(name)) for name in batch.facts)


def check_layout(types: Mapping[str, str], batch: Batch, table: TableName) -> None:
    """Raises ValueError when ``batch`` does not fit ``table`` (whose columns are ``types``): other fact columns
    than the table's (the message names the missing and the extra ones), or vectors of another width."""
    has = [name for name in ROW_FACTS if name in types]
    missing, extra = [name for name in has if name not in batch.facts], [n for n in batch.facts if n not in has]
    if missing or extra:
        raise ValueError(
            f"rows for PostgreSQL table {table} must carry its fact columns {has} and no others: "
            f"missing {missing}, extra {extra}"
        )
    dim = vector_dim(types.get(EMBEDDING_COLUMN, ""))
    if dim is not None and dim != batch.dim:
        raise ValueError(f"rows for PostgreSQL table {table} have {batch.dim}-dimensional vectors; it holds {dim}")


def load_temp(cur: psycopg.Cursor, name: str, batch: Batch, id_type: str) -> sql.Identifier:
    """A TEMP table ``name`` (dropped at commit) holding ``batch``, by binary COPY; ids as ``id_type``.

    Why not COPY into the live table: rows that already exist must update, which only INSERT ... ON CONFLICT does.
    """
    temp = sql.Identifier(name)
    cur.execute(
        sql.SQL("CREATE TEMP TABLE {} (id {}, embedding vector({}), content_hash text{}) ON COMMIT DROP").format(
            temp, sql.SQL(id_type), sql.SQL(str(batch.dim)), _fact_ddl(batch)
        )
    )
    copy_rows(cur, temp, batch.columns, batch.types(id_type), batch.records(id_type))
    return temp


def write_rows(
    cur: psycopg.Cursor, table: TableName, temp: sql.Identifier, columns: Sequence[str], only_changed: bool
) -> list[bool]:
    """``INSERT`` the rows of ``temp`` into ``table``, an existing id's row replaced by its new one, or only when
    its ``content_hash`` differs (``only_changed``).

    Returns:
        ``(written,)`` bools, True for an inserted row (``xmax = 0``), False for an updated one.

    Raises:
        ValueError: ``temp`` holds one id twice.
    """
    names = sql.SQL(", ").join(map(sql.Identifier, columns))
    updates = sql.SQL(", ").join(
        sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(name)) for name in columns if name != ID_COLUMN
    )
    where = sql.SQL(" WHERE t.content_hash IS DISTINCT FROM EXCLUDED.content_hash" if only_changed else "")
    try:
        cur.execute(
            sql.SQL(
                "INSERT INTO {} AS t ({}) SELECT {} FROM {} ON CONFLICT (id) DO UPDATE SET {}{} "
                "RETURNING (xmax = 0) AS inserted"
            ).format(table.ident(), names, names, temp, updates, where)
        )
    except psycopg.errors.CardinalityViolation:
        raise ValueError(f"a batch written to PostgreSQL table {table} repeats an id") from None
    return [row[0] for row in cur.fetchall()]


def delete_ids(cur: psycopg.Cursor, table: TableName, id_type: str, ids: Sequence[Any]) -> int:
    """``DELETE`` the rows of ``ids`` from ``table``, whose id column is ``id_type``; returns how many went."""
    cur.execute(
        sql.SQL("DELETE FROM {} WHERE id = ANY(%s::{}[])").format(table.ident(), sql.SQL(id_type)),
        [coerce_ids(list(ids), id_type)],
    )
    return cur.rowcount


def transaction_id(db: psycopg.Connection) -> int:
    """The current transaction's 32-bit id: the kind of number a publish's ``version`` (``pg_class.xmin``) is."""
    row = db.execute("SELECT pg_current_xact_id()::text::bigint & 4294967295").fetchone()
    if row is None:  # a SELECT of one expression always gives one row
        raise RuntimeError("PostgreSQL returned no current transaction id")
    return int(row[0])


def go_live(
    db: psycopg.Connection,
    staging: TableName,
    table: TableName,
    staged: Mapping[str, Mapping[str, Any]],
    provenance: Mapping[str, Any],
    index: IndexSpec | None,
) -> int:
    """The publish steps, in the caller's transaction: keep only the ``staged`` parts, key the table on ``id``,
    build ``index``, then swap the staging table in for ``table`` with ``provenance`` as its comment.

    Returns:
        The rows published.
    """
    rows = keep_parts(db, staging, staged)
    add_primary_key(db, staging, table)
    if index is not None:  # built before the swap: the table goes live already indexed
        dim = vector_dim(column_types(db, staging)[EMBEDDING_COLUMN]) or 0
        db.execute(index_statement(index, staging, index_name(staging.name), dim, rows))
    db.execute(sql.SQL("ANALYZE {}").format(staging.ident()))  # row estimates for plan_pages and queries
    swap(db, staging, table, provenance)
    return rows


def keep_parts(db: psycopg.Connection, staging: TableName, staged: Mapping[str, Mapping[str, Any]]) -> int:
    """Delete the rows of parts not in ``staged``, check the others' row counts, drop ``irp_part``.

    Returns:
        The rows kept.

    Raises:
        RuntimeError: a part's stage record says ``rows`` but the staging table holds another count.
    """
    part = sql.Identifier(PART_COLUMN)
    counts: dict[str, int] = dict(
        db.execute(sql.SQL("SELECT {0}, count(*) FROM {1} GROUP BY {0}").format(part, staging.ident())).fetchall()
    )
    wrong = {
        name: (record.get("rows"), counts.get(name, 0))
        for name, record in staged.items()
        if record.get("rows") is not None and record.get("rows") != counts.get(name, 0)
    }
    if wrong:
        example = ", ".join(f"{name}: {want} staged, {got} found" for name, (want, got) in sorted(wrong.items())[:3])
        raise RuntimeError(f"staging table {staging} does not hold what was staged ({example})")
    db.execute(sql.SQL("DELETE FROM {} WHERE {} <> ALL(%s)").format(staging.ident(), part), [sorted(staged)])
    # the column's bytes stay in the rows until they are rewritten: a few bytes beside a 4*d-byte vector
    db.execute(sql.SQL("ALTER TABLE {} DROP COLUMN {}").format(staging.ident(), part))
    return sum(counts.get(name, 0) for name in staged)


def add_primary_key(db: psycopg.Connection, staging: TableName, table: TableName) -> None:
    """The primary key on ``id``; building it is also the check that no two shards staged one id.

    Raises:
        ValueError: a duplicate id; the message names ``table`` and one such id (never the DSN).
    """
    try:
        db.execute(
            sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} PRIMARY KEY (id)").format(
                staging.ident(), sql.Identifier(pkey_name(staging.name))
            )
        )
    except psycopg.errors.UniqueViolation as exc:
        match = _DUPLICATE_KEY.search(exc.diag.message_detail or "")
        example = match.group(1) if match else "unknown"
        raise ValueError(
            f"duplicate ids across the staged shards of PostgreSQL table {table}: e.g. id "
            f"{example!r}; every id must be staged by exactly one part"
        ) from None


def swap(db: psycopg.Connection, staging: TableName, table: TableName, provenance: Mapping[str, Any]) -> None:
    """Drop the live table and rename staging (with its key and index) into its place, then comment it.

    Inside the caller's transaction: readers see the old table until the commit and the new one after it (a
    query blocked on the swap's lock looks the name up again once it gets the lock).
    """
    db.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(table.ident()))
    db.execute(sql.SQL("ALTER TABLE {} RENAME TO {}").format(staging.ident(), sql.Identifier(table.name)))
    db.execute(
        sql.SQL("ALTER TABLE {} RENAME CONSTRAINT {} TO {}").format(
            table.ident(), sql.Identifier(pkey_name(staging.name)), sql.Identifier(pkey_name(table.name))
        )
    )
    db.execute(
        sql.SQL("ALTER INDEX IF EXISTS {} RENAME TO {}").format(
            staging.sibling(index_name(staging.name)).ident(), sql.Identifier(index_name(table.name))
        )
    )
    comment = json.dumps({PROVENANCE_KEY: dict(provenance)}, sort_keys=True, default=str)
    db.execute(sql.SQL("COMMENT ON TABLE {} IS {}").format(table.ident(), sql.Literal(comment)))


def read_provenance(db: psycopg.Connection, table: TableName) -> dict[str, Any]:
    """The provenance :func:`swap` put in ``table``'s comment; {} when the table is missing or the comment not ours."""
    row = db.execute("SELECT obj_description(to_regclass(%s), 'pg_class')", [regclass_text(db, table)]).fetchone()
    try:
        doc = json.loads(row[0]) if row and row[0] else {}
    except ValueError:
        return {}
    value = doc.get(PROVENANCE_KEY) if isinstance(doc, dict) else None
    return dict(value) if isinstance(value, dict) else {}


def published_version(db: psycopg.Connection, table: TableName) -> int | None:
    """The (32-bit) id of the transaction that last renamed ``table`` into place, i.e. published it."""
    row = db.execute(
        "SELECT xmin::text::bigint FROM pg_class WHERE oid = to_regclass(%s)", [regclass_text(db, table)]
    ).fetchone()
    return int(row[0]) if row else None
