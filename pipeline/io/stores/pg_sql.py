"""PostgreSQL plumbing for the pgvector store: names, connecting without leaking the DSN, fast vector adapters,
binary ``COPY``, index DDL and Arrow conversion. Nothing here knows the staging/publish protocol (``pgvector.py``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import re
import struct
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import psycopg
import pyarrow as pa
from psycopg import sql
from psycopg.adapt import Dumper, Loader
from psycopg.conninfo import conninfo_to_dict
from psycopg.pq import Format
from psycopg.types import TypeInfo

from pipeline.config import IndexSpec
from pipeline.io.stores.base import CONTENT_HASH_COLUMN, ROW_FACTS
from pipeline.io.stores.rows import STORE_COLUMNS, normalize_rows
from pipeline.io.tables import EMBEDDING_COLUMN, ID_COLUMN, vectors_of

COLUMNS = STORE_COLUMNS  # a store table's columns, in this order (its row facts follow)
VECTOR_INDEX_MAX_DIM, HALFVEC_INDEX_MAX_DIM = 2000, 4000  # pgvector's limits for hnsw and ivfflat
_OPCLASS = {"cosine": "cosine_ops", "l2": "l2_ops", "dot": "ip_ops"}
MAX_IDENTIFIER_BYTES = 63  # NAMEDATALEN - 1: PostgreSQL silently truncates longer names, so they could collide
CONNECT_TIMEOUT_S = 30
_VECTOR_HEADER = struct.Struct(">HH")  # pgvector's binary form: dims, unused, then big-endian float32 values
_VECTOR_TYPE = re.compile(r"^(vector|halfvec)(?:\((\d+)\))?$")


@dataclasses.dataclass(frozen=True)
class TableName:
    """A table name, optionally schema-qualified (``schema.table``); ``schema`` None means the search path."""

    schema: str | None
    name: str

    @classmethod
    def parse(cls, table: str) -> TableName:
        schema, _, name = table.rpartition(".")
        if not name:
            raise ValueError(f"empty PostgreSQL table name in {table!r}")
        for part in (schema, name):
            if len(part.encode()) > MAX_IDENTIFIER_BYTES:
                raise ValueError(f"PostgreSQL name {part!r} is longer than {MAX_IDENTIFIER_BYTES} bytes")
        return cls(schema or None, name)

    def ident(self) -> sql.Identifier:
        return sql.Identifier(self.schema, self.name) if self.schema else sql.Identifier(self.name)

    def sibling(self, name: str) -> TableName:
        """Another table in the same schema."""
        return TableName(self.schema, name)

    def __str__(self) -> str:
        return f"{self.schema}.{self.name}" if self.schema else self.name


def short_name(base: str, suffix: str) -> str:
    """``base + suffix``, or when that passes 63 bytes, a cut ``base`` plus a digest of it (still unique)."""
    name = base + suffix
    if len(name.encode()) <= MAX_IDENTIFIER_BYTES:
        return name
    digest = hashlib.sha1(base.encode()).hexdigest()[:10]
    keep = MAX_IDENTIFIER_BYTES - len(suffix.encode()) - len(digest) - 1
    return base.encode()[:keep].decode(errors="ignore") + "_" + digest + suffix


def scrub(message: str, dsn: str) -> str:
    """``message`` with the DSN's password replaced by ``***`` (libpq errors rarely echo it, but may)."""
    try:
        password = conninfo_to_dict(dsn).get("password")
    except psycopg.ProgrammingError:
        password = None
    return message.replace(str(password), "***") if password else message


def connect(dsn: str, table: str) -> psycopg.Connection:
    """An autocommit connection with numpy vector adapters; every transaction is an explicit ``transaction()``.

    Raises:
        ConnectionError: the server is unreachable or refuses us; the message names ``table``, never the DSN.
    """
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:  # its message would quote the DSN
        raise ValueError(f"malformed PostgreSQL DSN for table {table}") from None
    # psycopg.connect's own keyword parameters: the DSN's connect_timeout wins over ours.
    extra: dict[str, Any] = {} if "connect_timeout" in params else {"connect_timeout": CONNECT_TIMEOUT_S}
    try:
        conn = psycopg.connect(dsn, autocommit=True, **extra)
    except psycopg.OperationalError as exc:
        # `from None`: the original exception (and its text) must not ride along in the traceback
        raise ConnectionError(f"cannot connect to PostgreSQL for table {table}: {scrub(str(exc), dsn)}") from None
    try:
        _register_vectors(conn)
    except BaseException:
        conn.close()
        raise
    return conn


def _register_vectors(conn: psycopg.Connection) -> None:
    """pgvector's adapters (creating the extension when missing), then faster numpy ones for ``vector``."""
    from pgvector.psycopg import register_vector

    row = conn.execute("SELECT to_regtype('vector')").fetchone()  # one row: the type, or NULL
    if row is None or row[0] is None:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    register_vector(conn)
    info = TypeInfo.fetch(conn, "vector")
    if info is None:
        raise RuntimeError("PostgreSQL has no 'vector' type although the pgvector extension was created")
    oid = info.oid
    conn.adapters.register_dumper(np.ndarray, type("NumpyVectorDumper", (_NumpyVectorDumper,), {"oid": oid}))
    conn.adapters.register_loader(oid, _NumpyVectorLoader)


class _NumpyVectorDumper(Dumper):
    """A ``(d,)`` big-endian float32 array (see :func:`big_endian`) -> pgvector binary, with no per-value work."""

    format = Format.BINARY

    def dump(self, obj: np.ndarray) -> bytes:
        return _VECTOR_HEADER.pack(obj.shape[0], 0) + obj.astype(">f4", copy=False).tobytes()


class _NumpyVectorLoader(Loader):
    """pgvector binary -> ``(d,)`` float32 (pgvector's own loader builds a Python ``array`` object per row)."""

    format = Format.BINARY

    def load(self, data: Any) -> np.ndarray:
        return np.frombuffer(data, dtype=">f4", offset=_VECTOR_HEADER.size).astype(np.float32)


def big_endian(vectors: np.ndarray) -> np.ndarray:
    """``(n, d)`` -> ``(n, d)`` big-endian float32 in one pass, so dumping a row is a header plus a byte copy."""
    return np.ascontiguousarray(vectors, dtype=">f4")


def id_type_for(arrow_type: pa.DataType) -> str:
    """The SQL type of an ``id`` column: ``bigint`` for integer ids, ``text`` for everything else."""
    return "bigint" if pa.types.is_integer(arrow_type) else "text"


def copy_rows(
    cur: psycopg.Cursor,
    target: sql.Composable,
    columns: Sequence[str],
    types: Sequence[str],
    rows: Iterable[Sequence[Any]],
) -> None:
    """Binary ``COPY target (columns) FROM STDIN``: about 16x faster than text COPY for vectors."""
    statement = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT BINARY)").format(
        target, sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    with cur.copy(statement) as copy:
        copy.set_types(list(types))
        for row in rows:
            copy.write_row(row)


def column_types(conn: psycopg.Connection, table: TableName) -> dict[str, str]:
    """``{column: SQL type}`` as ``format_type`` writes it (``vector(384)``, ``bigint``); empty when missing."""
    return dict(
        conn.execute(
            "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
            [regclass_text(conn, table)],
        ).fetchall()
    )


def regclass_text(conn: psycopg.Connection, table: TableName) -> str:
    """The quoted name ``to_regclass`` takes (``"schema"."Table"``), so odd characters and case survive."""
    return table.ident().as_string(conn)


def vector_dim(sql_type: str) -> int | None:
    """``vector(384)`` -> 384; None for a non-vector type or an unsized ``vector``."""
    match = _VECTOR_TYPE.match(sql_type)
    return int(match.group(2)) if match and match.group(2) else None


def to_arrow(names: Sequence[str], types: Sequence[str], rows: list[tuple]) -> pa.Table:
    """Rows fetched with binary loaders -> Arrow: vectors as ``fixed_size_list<float32>[d]``, text as string."""
    arrays = [_column_to_arrow(sql_type, [row[i] for row in rows]) for i, sql_type in enumerate(types)]
    return pa.table(dict(zip(names, arrays, strict=True)))


def _column_to_arrow(sql_type: str, values: list[Any]) -> pa.Array:
    match = _VECTOR_TYPE.match(sql_type)
    if match is None:
        return pa.array(values, type=_SCALAR_TYPES.get(sql_type))
    if any(value is None for value in values):
        raise ValueError(f"a {sql_type} column holds NULL vectors; an embedding table needs one per row")
    vectors = [np.asarray(value.to_numpy() if hasattr(value, "to_numpy") else value, np.float32) for value in values]
    dim = vector_dim(sql_type) or (len(vectors[0]) if vectors else 0)
    flat = np.concatenate(vectors) if vectors else np.zeros(0, np.float32)
    if flat.size != dim * len(vectors):
        raise ValueError(f"an unsized {sql_type} column holds vectors of different lengths")
    return pa.FixedSizeListArray.from_arrays(pa.array(flat, pa.float32()), dim)


_SCALAR_TYPES = {
    "text": pa.string(),
    "character varying": pa.string(),
    "bigint": pa.int64(),
    "integer": pa.int32(),
    "smallint": pa.int16(),
    "real": pa.float32(),
    "double precision": pa.float64(),
    "boolean": pa.bool_(),
    "bytea": pa.binary(),
}


def index_statement(index: IndexSpec, table: TableName, name: str, dim: int, rows: int) -> sql.Composed:
    """``CREATE INDEX name ON table USING hnsw|ivfflat (...)`` for ``index`` over ``dim``-wide vectors.

    Up to 2,000 dims the index is on ``embedding``; up to 4,000 on ``(embedding::halfvec(d))`` (pgvector's
    limits); wider raises. ivfflat without ``num_partitions`` gets about sqrt(rows) lists.

    Raises:
        ValueError: an unknown kind or metric, or vectors too wide to index.
    """
    if index.kind not in ("hnsw", "ivfflat"):
        raise ValueError(f"pgvector index kind must be 'hnsw' or 'ivfflat', not {index.kind!r}")
    if index.metric not in _OPCLASS:
        raise ValueError(f"index metric must be one of {sorted(_OPCLASS)}, not {index.metric!r}")
    target: sql.Composable
    if dim <= VECTOR_INDEX_MAX_DIM:
        target, opclass = sql.Identifier(EMBEDDING_COLUMN), f"vector_{_OPCLASS[index.metric]}"
    elif dim <= HALFVEC_INDEX_MAX_DIM:
        target = sql.SQL("(embedding::halfvec({}))").format(sql.SQL(str(int(dim))))
        opclass = f"halfvec_{_OPCLASS[index.metric]}"
    else:
        raise ValueError(
            f"pgvector cannot index {dim}-dimensional vectors (at most {HALFVEC_INDEX_MAX_DIM} as "
            f"halfvec); publish PostgreSQL table {table} without an index"
        )
    if index.kind == "hnsw":
        options = f"m = {int(index.m)}, ef_construction = {int(index.ef_construction)}"
    else:
        options = f"lists = {int(index.num_partitions or max(1, round(math.sqrt(rows))))}"
    return sql.SQL("CREATE INDEX {} ON {} USING {} ({} {}) WITH ({})").format(
        sql.Identifier(name), table.ident(), sql.SQL(index.kind), target, sql.SQL(opclass), sql.SQL(options)
    )


@dataclasses.dataclass(frozen=True)
class Batch:
    """Store rows, checked and split for a binary COPY.

    Attributes:
        ids: ``(n,)`` ids as given; :meth:`records` coerces them to the target column's type.
        vectors: ``(n, d)`` big-endian float32 (see :func:`big_endian`).
        hashes: ``(n,)`` content hashes, str or None.
        facts: the :data:`~pipeline.io.stores.base.ROW_FACTS` columns the rows have, in that order, each
            ``(n,)`` str or None.
        id_type: the SQL type these ids make (``bigint`` or ``text``), for a table created from them.
    """

    ids: list[Any]
    vectors: np.ndarray
    hashes: list[Any]
    facts: dict[str, list[Any]]
    id_type: str

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    @property
    def columns(self) -> tuple[str, ...]:
        """The table columns the rows fill: ``id, embedding, content_hash`` and the facts they have."""
        return (*COLUMNS, *self.facts)

    def types(self, id_type: str) -> tuple[str, ...]:
        """The binary COPY types of :attr:`columns` (facts are ``text``), ids as ``id_type``."""
        return (id_type, "vector", "text", *(["text"] * len(self.facts)))

    def records(self, id_type: str, *extra: Sequence[Any]) -> Iterator[tuple]:
        """``(n,)`` rows for :func:`copy_rows`: :attr:`columns`, then one value of each ``extra`` column."""
        return zip(coerce_ids(self.ids, id_type), self.vectors, self.hashes, *self.facts.values(), *extra, strict=True)


def batch_of(rows: pa.Table) -> Batch:
    """``rows`` (``id``, ``embedding``, ``content_hash`` and any of ``ROW_FACTS``) -> a checked :class:`Batch`."""
    rows = normalize_rows(rows)
    ids = rows.column(ID_COLUMN).to_pylist()
    if any(value is None for value in ids):
        raise ValueError("store rows have null ids")
    vectors = vectors_of(rows.column(EMBEDDING_COLUMN))
    if vectors.shape[1] < 1:
        raise ValueError("store rows need vectors of at least one dimension")
    facts = {name: rows.column(name).to_pylist() for name in ROW_FACTS if name in rows.column_names}
    return Batch(
        ids,
        big_endian(vectors),
        rows.column(CONTENT_HASH_COLUMN).to_pylist(),
        facts,
        id_type_for(rows.schema.field(ID_COLUMN).type),
    )


def coerce_ids(ids: list[Any], id_type: str) -> list[Any]:
    """Ids as the Python type the column's binary dumper takes (numpy ints and strings of digits included)."""
    if id_type == "bigint":
        return [int(value) for value in ids]
    return [str(value) for value in ids]


def check_columns(names: Sequence[str], types: Mapping[str, str], table: TableName) -> None:
    """Raises ValueError naming the columns of ``names`` that ``table`` lacks."""
    unknown = [name for name in names if name not in types]
    if unknown:
        raise ValueError(f"PostgreSQL table {table} has no column(s) {unknown}; it has {list(types)}")
