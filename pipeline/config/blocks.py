"""Config blocks that several jobs share (source, output, execution, index), and the defaults they pass down.

This package is the leaf of the house: it imports only the strict builder. A block whose keys depend on a registry
lives next to that registry (``pipeline.translate.config.TranslatorConfig``, ``pipeline.encoders.config``), and
each job's own schema lives in its package under ``pipeline.jobs``. Where a block's table and records are stored
is the storage layer's business (``pipeline.io.stores.layout``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Final, Literal

from pipeline.config.paths import Place, package_path_problems

# Chunk budgets: a chunk's rows, its model inputs and its output vectors (768 float32 per row) stay within a few
# hundred MB in an actor, whatever the size of the file they come from.
CHUNK_BYTES = 64 << 20
CHUNK_ROWS = 65_536
# A decompression bomb is a few kilobytes on disk and gigabytes decoded. PIL only warns between 89 and 179 million
# pixels, and decodes; images with more pixels than this are refused from their header, before any pixel is
# decoded. 64 million is an 8000 x 8000 image, above any camera's; PIL itself refuses anything above 179 million.
MAX_IMAGE_PIXELS = 64_000_000

FILE_FORMATS = ("parquet", "jsonl", "csv", "text", "images")
STORE_FORMATS: Final = ("delta", "lancedb", "pgvector")  # tables in a store of their own, not a folder of files
OUTPUT_FORMATS = ("parquet", *STORE_FORMATS)  # what an output (or a nightly store) can be
SourceFormat = Literal["parquet", "jsonl", "csv", "text", "images", "delta", "lancedb", "pgvector"]
OutputFormat = Literal["parquet", "delta", "lancedb", "pgvector"]  # OUTPUT_FORMATS, as a type
# The vector index each store can publish a table with.
INDEX_KINDS: dict[str, tuple[str, ...]] = {"lancedb": ("ivf_pq", "ivf_hnsw_sq"), "pgvector": ("hnsw", "ivfflat")}
TEXT_FOLDER_COLUMNS = ("text", "title", "body")  # what a folder of text files offers (pipeline.io.sources)


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


def store_problems(fmt: str, path: str, table: str | None, dsn: str | None) -> list[str]:
    """What a block lacks for its format: LanceDB needs ``path`` and ``table``, pgvector ``dsn`` and ``table``,
    every other format a ``path``; a format takes no ``table`` or ``dsn`` it does not use."""
    needs = {"lancedb": ("path", "table"), "pgvector": ("dsn", "table")}.get(fmt, ("path",))
    given = {"path": path, "table": table, "dsn": dsn}
    found = [f"{key}: required with format {fmt}" for key in needs if not given[key]]
    return found + [
        f"{key}: not used with format {fmt}; drop it" for key in ("table", "dsn") if given[key] and key not in needs
    ]


@dataclasses.dataclass(frozen=True)
class SourceConfig:
    """Where the input rows come from (pipeline.io.sources).

    Attributes:
        path: a file, directory or glob as an fsspec URL (``s3://``, ``gs://``, local), or ``pkg://<package>/...``;
            the database folder of a LanceDB table, the folder of a Delta table.
        format: parquet, jsonl, csv, text (a folder of text files), images (a folder of image files), or a store:
            delta, lancedb, pgvector (pipeline.io.stores).
        table: the table of a LanceDB database or a PostgreSQL database.
        dsn: the PostgreSQL connection string of a pgvector table; never logged, recorded or shown in errors.
        id_column: unique row ids (string or int64); text and image folders use the relative file path.
        text_column, image_column, vector_column: the content to encode or, for vectors, to pass through. A text
            folder offers ``text`` (the whole file, the default), ``title`` (its first line) and ``body`` (the
            rest).
        content_hash_column: a column that already holds each row's content hash (a store written by an earlier
            job); without it, the hash is computed from the content when a store is written.
        max_image_pixels: an image with more pixels goes to the quarantine undecoded, read from its header (a
            decompression bomb is a few kilobytes on disk and gigabytes decoded).
        files_per_shard: folder formats group this many files per shard.
        storage_options: fsspec options (credentials); never written to logs or manifests.
    """

    path: str = ""
    format: SourceFormat = "parquet"
    table: str | None = None
    dsn: str | None = dataclasses.field(default=None, repr=False)
    id_column: str = "id"
    text_column: str | None = None
    image_column: str | None = None
    vector_column: str | None = None
    content_hash_column: str | None = None
    max_image_pixels: int = MAX_IMAGE_PIXELS
    files_per_shard: int = 256
    storage_options: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        # Folders have one implicit content column; naming it keeps the rest of the pipeline format-agnostic.
        implicit = {"text": ("text_column", "text"), "images": ("image_column", "image")}.get(self.format)
        if implicit and getattr(self, implicit[0]) is None:
            object.__setattr__(self, implicit[0], implicit[1])

    @property
    def content_column(self) -> str | None:
        return self.text_column or self.image_column or self.vector_column

    @property
    def modality(self) -> str:
        return "text" if self.text_column else "image" if self.image_column else "vector"

    @property
    def is_store(self) -> bool:
        """Whether it reads a store table (Delta, LanceDB, pgvector) rather than files."""
        return self.format in STORE_FORMATS

    @property
    def place(self) -> Place:
        """Where it reads (``pipeline.config.paths``)."""
        return Place(self.format, self.path, self.table or "", self.dsn or "")

    def problems(self) -> list[str]:
        named = [c for c in ("text_column", "image_column", "vector_column") if getattr(self, c)]
        named_problems = store_problems(self.format, self.path, self.table, self.dsn)
        found = (
            []
            if len(named) == 1
            else [f"text_column: name exactly one of text_column, image_column, vector_column; got {named}"]
        )
        if self.format == "text" and self.text_column not in TEXT_FOLDER_COLUMNS:
            found.append(
                f"text_column: a text folder has the columns {list(TEXT_FOLDER_COLUMNS)}, got {self.text_column!r}"
            )
        found += package_path_problems("path", self.path)
        found += [] if self.max_image_pixels >= 1 else ["max_image_pixels: must be >= 1"]
        return named_problems + found + ([] if self.files_per_shard >= 1 else ["files_per_shard: must be >= 1"])


@dataclasses.dataclass(frozen=True)
class OutputConfig:
    """Where the embedding table goes: a Parquet directory, or a store table (pipeline.io.stores).

    The table holds only what its readers read. Everything the job keeps for itself (the claim, per-shard records,
    quarantined rows, the fitted translator, embedded anchors, scratch) lives in the output's records folder,
    beside the table and outside its glob: ``<parent>/_irp/<name>/`` for a Parquet directory or a Delta table,
    ``<database>/_irp/<table>/`` for LanceDB, and for pgvector ``path`` (default ``.irp/pgvector/<table>``).

    Attributes:
        path: the output directory as an fsspec URL; for a store, its place: the LanceDB database folder, the
            Delta table folder, or for pgvector the folder of the job's records (on a cluster, a folder every node
            reaches).
        format: parquet (a directory of ``part-*.parquet``, ``_manifest.json`` and ``_SUCCESS``), delta, lancedb
            or pgvector.
        table: the LanceDB or PostgreSQL table.
        dsn: the PostgreSQL connection string; never logged, recorded or shown in errors.
        index: the vector index the table is published with (LanceDB ``ivf_pq``/``ivf_hnsw_sq``, pgvector
            ``hnsw``/``ivfflat``), built before the table is published.
        space: name of the space the vectors live in; derived from the encoder when omitted.
        overwrite: replace an output written by a different config instead of refusing.
        records: the records folder, where the default place does not suit (an object-store prefix the job may
            not write beside, say).
        storage_options: fsspec (or store) options, credentials; never written to logs or manifests.
    """

    path: str = ""
    format: OutputFormat = "parquet"
    table: str | None = None
    dsn: str | None = dataclasses.field(default=None, repr=False)
    index: IndexSpec | None = None
    space: str | None = None
    overwrite: bool = False
    records: str | None = None
    storage_options: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def place(self) -> Place:
        """Where it writes (``pipeline.config.paths``)."""
        return Place(self.format, self.path, self.table or "", self.dsn or "")

    def problems(self) -> list[str]:
        found = store_problems(self.format, self.path, self.table, self.dsn)
        if self.index is not None and self.index.kind not in INDEX_KINDS.get(self.format, ()):
            kinds = INDEX_KINDS.get(self.format, ())
            found.append(f"index: {self.format} tables take " + (f"kind {list(kinds)}" if kinds else "no index"))
        return found


@dataclasses.dataclass(frozen=True)
class ExecutionConfig:
    """How the job runs on Ray (pipeline.engine).

    Attributes:
        actors: encoder actors, each holding one model.
        gpus_per_actor: GPUs each actor reserves; fractional shares a GPU; ``auto`` is 1 where the cluster has
            GPUs and 0 otherwise.
        cpus_per_actor: CPUs each actor reserves. Below 1 by default, so actors never starve the tasks that
            feed them on a small machine (with whole CPUs, 2 actors on 2 cores starve the read task for ever).
        cpus_per_task: CPUs each preparation (read, check, tokenize, decode) and write task reserves; Ray runs
            as many at once as the free CPUs allow, and Ray Data's backpressure stops them running far ahead.
        batch_size: rows per encoder call.
        address: None starts an embedded local Ray on 127.0.0.1; ``auto`` joins the cluster of a
            ``ray job submit``; or a ``ray://`` / ``host:port`` address.
        num_cpus: logical CPUs of an embedded local Ray (default: the machine's cores, at least 4).
        num_gpus: logical GPUs of an embedded local Ray (default: what Ray detects).
        actor_start_timeout_s: how long to wait for every actor to start and load its model (a cluster may
            first have to scale up); the job fails with a clear error after that.
        chunk_bytes: a JSONL or CSV file larger than this becomes several shards, cut at record ends, so an
            actor's memory stays flat whatever the file size.
        chunk_rows: a Parquet row group with more rows than this becomes several shards.
    """

    actors: int = 1
    gpus_per_actor: float | Literal["auto"] = "auto"
    cpus_per_actor: float = 0.5
    cpus_per_task: float = 1.0
    batch_size: int = 64
    address: str | None = None
    num_cpus: int | None = None
    num_gpus: int | None = None
    actor_start_timeout_s: int = 900
    chunk_bytes: int = CHUNK_BYTES
    chunk_rows: int = CHUNK_ROWS

    def problems(self) -> list[str]:
        found = [] if self.actors >= 1 else ["actors: must be >= 1"]
        if self.actor_start_timeout_s < 1:
            found.append("actor_start_timeout_s: must be >= 1")
        if self.gpus_per_actor != "auto" and self.gpus_per_actor < 0:
            found.append("gpus_per_actor: must be >= 0 or auto")
        if self.cpus_per_actor <= 0:
            found.append("cpus_per_actor: must be > 0")
        if self.cpus_per_task <= 0:
            found.append("cpus_per_task: must be > 0")
        if self.chunk_bytes < 1 << 10:
            found.append("chunk_bytes: must be >= 1024")
        if self.chunk_rows < 1:
            found.append("chunk_rows: must be >= 1")
        return found + ([] if self.batch_size >= 1 else ["batch_size: must be >= 1"])
