"""Benchmark sections for the stores and the query-side migration, each against a bare baseline in the same run.

- ``lancedb_write``, ``delta_write``, ``pgvector_write``: the ``translate_corpus`` job end to end (plan, read,
  translate, hash, stage in the write tasks, one publish) into each store, against reading the corpus with
  pyarrow and writing rows of the output's shape with the store's own bulk write: ``lancedb`` ``create_table``,
  ``pyarrow.parquet.write_table`` (what a Delta table's files are), one binary ``COPY`` for pgvector. No index on
  either side: index builds are the store's own cost, not the pipeline's. pgvector runs when ``dsn`` is given.
- ``query_translation``: the second migration strategy keeps the old table and translates each query from the
  new model's space into the old one's. Ours: ``FittedTranslator.transform`` on one 768-d query at a time; bare:
  ``q @ W`` in numpy on the same matrix.
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.config import OutputConfig, OutputFormat
from pipeline.io.tables import embedding_array, vectors_of
from pipeline.jobs.benchmark.config import BenchmarkConfig
from pipeline.jobs.benchmark.inputs import translate_job, vector_corpus
from pipeline.jobs.benchmark.report import section

SHARDS = 8  # shards of the store sections' corpus: a few per write task


def store_write(fmt: OutputFormat) -> Callable[[BenchmarkConfig, Path, list[str]], dict[str, Any]]:
    """The write section of one store format."""

    def measure(config: BenchmarkConfig, work: Path, texts: list[str]) -> dict[str, Any]:
        shutil.rmtree(work, ignore_errors=True)  # a fresh store: a previous run's table must not be resumed
        rows, (d_source, d_target) = config.store_rows, config.dims
        corpus = vector_corpus(work, rows, -(-rows // SHARDS), d_source)
        table = f"bench_{uuid.uuid4().hex[:8]}"
        started = time.perf_counter()
        translate_job(config, work, corpus, output=_output(fmt, work, table, config.dsn))
        ours = rows / (time.perf_counter() - started)
        started = time.perf_counter()
        read = pq.read_table(corpus)
        widened = np.resize(vectors_of(read.column("embedding")), (read.num_rows, d_target))
        BARE_WRITES[fmt](
            pa.table({"id": read.column("id"), "embedding": embedding_array(widened)}),
            work,
            f"{table}_bare",
            config.dsn,
        )
        bare = rows / (time.perf_counter() - started)
        return section(
            "rows/s",
            ours,
            bare,
            f"translate_corpus into {fmt}, {rows} x {d_source} -> {d_target}, staged by the write tasks, one publish",
            f"pyarrow read + {BARE_NAMES[fmt]}",
        )

    return measure


def _output(fmt: OutputFormat, work: Path, table: str, dsn: str | None) -> OutputConfig:
    if fmt == "pgvector":
        return OutputConfig(str(work / "records"), format="pgvector", table=table, dsn=dsn)
    path = work / ("lancedb" if fmt == "lancedb" else table)
    return OutputConfig(str(path), format=fmt, table=table if fmt == "lancedb" else None)


def _lancedb_bare(rows: pa.Table, work: Path, table: str, dsn: str | None) -> None:
    import lancedb

    lancedb.connect(str(work / "lancedb_bare")).create_table(table, rows)


def _parquet_bare(rows: pa.Table, work: Path, table: str, dsn: str | None) -> None:
    pq.write_table(rows, work / f"{table}.parquet", compression="zstd")


def _copy_bare(rows: pa.Table, work: Path, table: str, dsn: str | None) -> None:
    """One binary COPY of every row through psycopg and the pgvector adapter, in one connection."""
    import psycopg
    from pgvector.psycopg import register_vector

    if dsn is None:  # the config refuses pgvector_write without a dsn
        raise ValueError("the pgvector_write section needs a dsn")
    vectors = vectors_of(rows.column("embedding"))
    with psycopg.connect(dsn) as conn:
        register_vector(conn)
        conn.execute(f"CREATE TABLE {table} (id bigint, embedding vector({vectors.shape[1]}))")
        with conn.cursor() as cur, cur.copy(f"COPY {table} (id, embedding) FROM STDIN WITH (FORMAT BINARY)") as copy:
            copy.set_types(["bigint", "vector"])
            for row_id, vector in zip(rows.column("id").to_pylist(), vectors, strict=True):
                copy.write_row((row_id, vector))
        conn.execute(f"DROP TABLE {table}")


BARE_WRITES = {"lancedb": _lancedb_bare, "delta": _parquet_bare, "pgvector": _copy_bare}
BARE_NAMES = {
    "lancedb": "lancedb create_table",
    "delta": "pyarrow write_table (zstd)",
    "pgvector": "one binary COPY (psycopg + pgvector)",
}


def bench_query_translation(config: BenchmarkConfig, work: Path, texts: list[str]) -> dict[str, Any]:
    """Translating queries new -> old one at a time, against the bare matrix product; reports us per query."""
    from pipeline.translate import fit_translator

    rng = np.random.default_rng(0)
    d_old, d_new = config.dims
    new_anchors = rng.normal(size=(2000, d_new)).astype(np.float32)
    old_anchors = new_anchors @ rng.normal(size=(d_new, d_old)).astype(np.float32)
    reverse = fit_translator(new_anchors, old_anchors, "procrustes")
    queries = rng.normal(size=(config.queries, d_new)).astype(np.float32)
    started = time.perf_counter()
    for query in queries:
        reverse.transform(query[None])
    ours = len(queries) / (time.perf_counter() - started)
    matrix = reverse.plan.matrix
    started = time.perf_counter()
    for query in queries:
        query[None] @ matrix
    bare = len(queries) / (time.perf_counter() - started)
    return section(
        "queries/s",
        ours,
        bare,
        f"FittedTranslator.transform, one {d_new}-d query at a time -> {d_old} ({1e6 / ours:.1f} us per query)",
        f"numpy q @ W ({1e6 / bare:.1f} us per query)",
        microseconds_per_query=1e6 / ours,
    )


STORE_SECTIONS: dict[str, Callable[[BenchmarkConfig, Path, list[str]], dict[str, Any]]] = {
    "lancedb_write": store_write("lancedb"),
    "delta_write": store_write("delta"),
    "pgvector_write": store_write("pgvector"),
    "query_translation": bench_query_translation,
}
