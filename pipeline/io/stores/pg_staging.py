"""The steps of the pgvector store's staging protocol: the staging table, and the publish transaction's DDL.

Every function runs on the caller's connection and inside the caller's transaction (``publish`` runs
:func:`keep_parts`, :func:`add_primary_key`, the index build and :func:`swap` as ONE transaction), so a failure in
any step rolls back all of them and leaves the staging table as the stage calls left it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import psycopg
from psycopg import sql

from pipeline.io.stores.base import PROVENANCE_KEY
from pipeline.io.stores.pg_sql import TableName, short_name

PART_COLUMN = "irp_part"  # which part staged a row; dropped at publish
_DUPLICATE_KEY = re.compile(r"Key \(id\)=\((.*)\) is duplicated")


def lock(db: psycopg.Connection, key: str) -> None:
    """A transaction-scoped advisory lock on ``key``, released at commit or rollback."""
    db.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [key])


def pkey_name(table: str) -> str:
    return short_name(table, "_pkey")


def index_name(table: str) -> str:
    return short_name(table, "_embedding_idx")


def create_staging(db: psycopg.Connection, staging: TableName, id_type: str, dim: int) -> None:
    """Create the staging table ``(id, embedding vector(dim), content_hash, irp_part)`` when missing.

    Its own short transaction: concurrent first stagers would race in CREATE ... IF NOT EXISTS (a unique
    violation in the catalog), so an advisory lock serializes them, but it must not be held during their COPYs.
    """
    with db.transaction():
        lock(db, f"irp-stage:{staging}")
        db.execute(sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (id {} NOT NULL, embedding vector({}) NOT NULL, content_hash text, "
            "{} text NOT NULL)").format(staging.ident(), sql.SQL(id_type), sql.SQL(str(int(dim))),
                                        sql.Identifier(PART_COLUMN)))
        # restaging a part deletes its old rows: without this index every stage would scan the whole table
        db.execute(sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} ({})").format(
            sql.Identifier(short_name(staging.name, "_part")), staging.ident(), sql.Identifier(PART_COLUMN)))


def keep_parts(db: psycopg.Connection, staging: TableName, staged: Mapping[str, Mapping[str, Any]]) -> int:
    """Delete the rows of parts not in ``staged``, check the others' row counts, drop ``irp_part``.

    Returns:
        The rows kept.

    Raises:
        RuntimeError: a part's stage record says ``rows`` but the staging table holds another count.
    """
    part = sql.Identifier(PART_COLUMN)
    counts = dict(db.execute(sql.SQL("SELECT {0}, count(*) FROM {1} GROUP BY {0}").format(
        part, staging.ident())).fetchall())
    wrong = {name: (record.get("rows"), counts.get(name, 0)) for name, record in staged.items()
             if record.get("rows") is not None and record.get("rows") != counts.get(name, 0)}
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
        db.execute(sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} PRIMARY KEY (id)").format(
            staging.ident(), sql.Identifier(pkey_name(staging.name))))
    except psycopg.errors.UniqueViolation as exc:
        match = _DUPLICATE_KEY.search(exc.diag.message_detail or "")
        example = match.group(1) if match else "unknown"
        raise ValueError(f"duplicate ids across the staged shards of PostgreSQL table {table}: e.g. id "
                         f"{example!r}; every id must be staged by exactly one part") from None


def swap(db: psycopg.Connection, staging: TableName, table: TableName, provenance: Mapping[str, Any]) -> None:
    """Drop the live table and rename staging (with its key and index) into its place, then comment it.

    Inside the caller's transaction: readers see the old table until the commit and the new one after it (a
    query blocked on the swap's lock looks the name up again once it gets the lock).
    """
    db.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(table.ident()))
    db.execute(sql.SQL("ALTER TABLE {} RENAME TO {}").format(staging.ident(), sql.Identifier(table.name)))
    db.execute(sql.SQL("ALTER TABLE {} RENAME CONSTRAINT {} TO {}").format(
        table.ident(), sql.Identifier(pkey_name(staging.name)), sql.Identifier(pkey_name(table.name))))
    db.execute(sql.SQL("ALTER INDEX IF EXISTS {} RENAME TO {}").format(
        staging.sibling(index_name(staging.name)).ident(), sql.Identifier(index_name(table.name))))
    comment = json.dumps({PROVENANCE_KEY: dict(provenance)}, sort_keys=True, default=str)
    db.execute(sql.SQL("COMMENT ON TABLE {} IS {}").format(table.ident(), sql.Literal(comment)))
