"""The rows every store holds (``id``, ``embedding``, ``content_hash``) and the small SQL text stores need."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pyarrow as pa

from pipeline.io.stores.base import CONTENT_HASH_COLUMN, ROW_FACTS
from pipeline.io.tables import EMBEDDING_COLUMN, ID_COLUMN, embedding_array, vectors_of

STORE_COLUMNS = (ID_COLUMN, EMBEDDING_COLUMN, CONTENT_HASH_COLUMN)
IDS_PER_PREDICATE = 1000  # an IN list this long parses fast; a million-id list would not


def normalize_rows(rows: pa.Table) -> pa.Table:
    """``rows`` as exactly ``id``, ``embedding`` (``fixed_size_list<float32>[d]``) and ``content_hash`` (string),
    then whichever of the row facts (``space``, ``origin``, ``run``) they carry, as strings.

    Every part of one table must have the same schema (Lance assigns field ids from it, Delta and PostgreSQL
    declare it once), whatever list layout the vectors arrived in. Schema metadata is dropped: provenance is the
    table's, written once at publish.

    Raises:
        ValueError: a store column is missing.
    """
    missing = [name for name in STORE_COLUMNS if name not in rows.column_names]
    if missing:
        raise ValueError(f"store rows need the columns {list(STORE_COLUMNS)}; missing {missing}")
    column = rows.column(EMBEDDING_COLUMN).combine_chunks()
    # No rows (a night of deletes only) have no width to check; they keep their layout.
    return pa.table(
        {
            ID_COLUMN: rows.column(ID_COLUMN).combine_chunks(),
            EMBEDDING_COLUMN: embedding_array(vectors_of(column)) if rows.num_rows else column,
            **{name: _as_text(rows, name) for name in (CONTENT_HASH_COLUMN, *ROW_FACTS) if name in rows.column_names},
        }
    )


def _as_text(rows: pa.Table, name: str) -> pa.Array:
    """A text column of the store: anything Arrow writes as a string (ints, dictionaries) is accepted."""
    try:
        return rows.column(name).cast(pa.string()).combine_chunks()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise ValueError(f"store rows' {name!r} column is {rows.schema.field(name).type}, not text") from None


def sql_literal(value: Any) -> str:
    """An id as a SQL literal: integers as they are, anything else as a quoted string with quotes doubled."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def sql_in_lists(column: str, ids: Sequence[Any]) -> Iterator[str]:
    """``column IN (...)`` predicates over ``ids``, at most :data:`IDS_PER_PREDICATE` ids each."""
    for start in range(0, len(ids), IDS_PER_PREDICATE):
        yield f"{column} IN ({', '.join(sql_literal(value) for value in ids[start : start + IDS_PER_PREDICATE])})"
