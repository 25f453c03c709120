"""Config blocks that several jobs share: translator, source, encoder, output, execution."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Literal

from pipeline.config.paths import package_path_problems
from pipeline.encoders.inputs import DEFAULT_MAX_PIXELS
from pipeline.io.sources import CHUNK_BYTES, CHUNK_ROWS
from pipeline.io.stores.base import INDEX_KINDS, STORE_FORMATS, IndexSpec, StoreRef
from pipeline.strict import build_tagged


@dataclasses.dataclass(frozen=True)
class TranslatorConfig:
    """A ``translator`` block: ``{method: auto}`` or ``{method: irp, delta: 0.7, ...}`` (options inline).

    Attributes:
        method: one of ``pipeline.translate.list_methods()``.
        options: that method's options, checked when the config is loaded, long before any fitting.
    """

    method: str = "auto"
    options: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_config(cls, value: Any, where: str, problems: list[str]) -> TranslatorConfig | None:
        from pipeline.translate import method_options

        built = build_tagged(value, "method", method_options, "{method: auto}", where, problems, default="auto")
        return None if built is None else cls(*built)

    def for_index(self) -> TranslatorConfig:
        """This block in a job whose translations become index rows that native queries search: ``auto`` without
        an objective takes ``index`` (``AutoOptions.objective``); anything the config names is kept."""
        if self.method != "auto" or "objective" in self.options:
            return self
        return dataclasses.replace(self, options={**self.options, "objective": "index"})


TEXT_FOLDER_COLUMNS = ("text", "title", "body")  # what pipeline.io.sources reads from a folder of text files


def store_problems(fmt: str, path: str, table: str | None, dsn: str | None) -> list[str]:
    """What a store block lacks: LanceDB needs ``path`` and ``table``, Delta ``path``, pgvector ``dsn`` and
    ``table``; a file format needs ``path`` and takes neither ``table`` nor ``dsn``."""
    needs = {"lancedb": ("path", "table"), "delta": ("path",), "pgvector": ("dsn", "table")}.get(fmt, ("path",))
    given = {"path": path, "table": table, "dsn": dsn}
    found = [f"{key}: required with format {fmt}" for key in needs if not given[key]]
    return found + [f"{key}: not used with format {fmt}; drop it" for key in ("table", "dsn")
                    if given[key] and key not in needs]


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
    format: Literal["parquet", "jsonl", "csv", "text", "images", "delta", "lancedb", "pgvector"] = "parquet"
    table: str | None = None
    dsn: str | None = dataclasses.field(default=None, repr=False)
    id_column: str = "id"
    text_column: str | None = None
    image_column: str | None = None
    vector_column: str | None = None
    content_hash_column: str | None = None
    max_image_pixels: int = DEFAULT_MAX_PIXELS
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
    def store(self) -> StoreRef | None:
        """The store table this source reads, or None for files."""
        if self.format not in STORE_FORMATS:
            return None
        return StoreRef(self.format, self.path, self.table or "", self.dsn or "", self.storage_options,
                        self.id_column, self.content_column or "embedding")

    @property
    def place(self) -> tuple[str, StoreRef | None]:
        """Where it reads: its path, and its store table when it names one (``pipeline.config.paths``)."""
        return self.path, self.store

    def problems(self) -> list[str]:
        named = [c for c in ("text_column", "image_column", "vector_column") if getattr(self, c)]
        named_problems = store_problems(self.format, self.path, self.table, self.dsn)
        found = [] if len(named) == 1 else [
            f"text_column: name exactly one of text_column, image_column, vector_column; got {named}"
        ]
        if self.format == "text" and self.text_column not in TEXT_FOLDER_COLUMNS:
            found.append(f"text_column: a text folder has the columns {list(TEXT_FOLDER_COLUMNS)}, "
                         f"got {self.text_column!r}")
        found += package_path_problems("path", self.path)
        found += [] if self.max_image_pixels >= 1 else ["max_image_pixels: must be >= 1"]
        return named_problems + found + ([] if self.files_per_shard >= 1 else ["files_per_shard: must be >= 1"])


@dataclasses.dataclass(frozen=True)
class EncoderConfig:
    """An ``encoder`` block: ``{kind: hf_text, model: <hub id, local dir or packaged:NAME>, pooling: mean, ...}``.

    Attributes:
        kind: one of ``pipeline.encoders.list_encoders()``.
        options: the encoder's own options (model, pooling, normalize, max_length, ...), inline in YAML.
    """

    kind: str
    options: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_config(cls, value: Any, where: str, problems: list[str]) -> EncoderConfig | None:
        from pipeline.encoders import encoder_spec

        built = build_tagged(value, "kind", encoder_spec, "{kind: hf_text, model: ...}", where, problems)
        return None if built is None else cls(*built)


@dataclasses.dataclass(frozen=True)
class OutputConfig:
    """Where the embedding table goes: a Parquet directory (pipeline.io.sink) or a store (pipeline.io.stores).

    Attributes:
        path: the output directory as an fsspec URL; for a store, its place: the LanceDB database folder, the
            Delta table folder, or for pgvector the folder of the job's records (default ``.irp/pgvector/<table>``;
            on a cluster, a folder every node reaches).
        format: parquet (the directory contract, DESIGN.md §4), delta, lancedb or pgvector.
        table: the LanceDB or PostgreSQL table.
        dsn: the PostgreSQL connection string; never logged, recorded or shown in errors.
        index: the vector index the table is published with (LanceDB ``ivf_pq``/``ivf_hnsw_sq``, pgvector
            ``hnsw``/``ivfflat``), built before the table is published.
        space: name of the space the vectors live in; derived from the encoder when omitted.
        overwrite: replace an output written by a different config instead of refusing.
        storage_options: fsspec (or store) options, credentials; never written to logs or manifests.
    """

    path: str = ""
    format: Literal["parquet", "delta", "lancedb", "pgvector"] = "parquet"
    table: str | None = None
    dsn: str | None = dataclasses.field(default=None, repr=False)
    index: IndexSpec | None = None
    space: str | None = None
    overwrite: bool = False
    storage_options: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.format == "pgvector" and not self.path and self.table:
            object.__setattr__(self, "path", f".irp/pgvector/{self.table}")

    @property
    def store(self) -> StoreRef | None:
        """The store table this output publishes, or None for a Parquet directory."""
        if self.format not in STORE_FORMATS:
            return None
        return StoreRef(self.format, self.path, self.table or "", self.dsn or "", self.storage_options)

    @property
    def place(self) -> tuple[str, StoreRef | None]:
        """Where it writes: its path (a store's folder, or pgvector's records), and its store table."""
        return self.path, self.store

    @property
    def records(self) -> str:
        """Where the job keeps its manifest, quarantine, fitted translator and per-shard records."""
        if self.format == "lancedb":
            return f"{self.path.rstrip('/')}/_irp/{self.table}"
        return f"{self.path.rstrip('/')}/_irp" if self.format == "delta" else self.path

    def problems(self) -> list[str]:
        found = store_problems(self.format, self.path, self.table, self.dsn)
        if self.index is not None and self.index.kind not in INDEX_KINDS.get(self.format, ()):
            kinds = INDEX_KINDS.get(self.format, ())
            found.append(f"index: {self.format} tables take " + (f"kind {list(kinds)}" if kinds else "no index"))
        return found


@dataclasses.dataclass(frozen=True)
class ExecutionConfig:
    """How the job runs on Ray (pipeline.engine.ray_pool).

    Attributes:
        actors: encoder actors, each holding one model.
        gpus_per_actor: GPUs each actor reserves; fractional shares a GPU; ``auto`` is 1 where the cluster has
            GPUs and 0 otherwise.
        cpus_per_actor: CPUs each actor reserves. Below 1 by default, so actors never starve the tasks that
            feed them on a small machine (a 2-core deadlock is known, ENVIRONMENT.md).
        cpus_per_task: CPUs each preparation (read, check, tokenise, decode) and write task reserves; Ray runs
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


@dataclasses.dataclass(frozen=True)
class AnchorsConfig:
    """The shared anchors of one target: embedding tables joined on ``id``, or an anchor set the job embeds.

    Attributes:
        target: anchor table in the target space (a Parquet file or an ``embed`` output directory).
        source: anchor table in the source space. Omit it to take the source side from the corpus rows whose ids
            are anchors (a vector-store migration embeds only the new side), or, for a raw corpus with an anchor
            ``set``, to embed the set with the job's encoder.
        set: the anchor items themselves (ids plus text or images), embedded by the job with the ``embed``
            machinery into ``<output>/_anchors/``; instead of ``target``.
        target_encoder: the target model, which embeds ``set`` in the target space.
        passages: also cut the set's texts into paragraphs (pipeline.io.passages) and fit on them beside the
            whole texts: about five more pairs per BBC News article, from the same items. Both models embed
            them, so it needs a text set and the job's encoder (a raw corpus). On BBC News it lifted the
            migrated index's Recall@10 by 0.01-0.03 of native, to 0.97-0.99 (docs/evaluation/report.md).
        storage_options: fsspec options for the tables; never written to logs or manifests.
    """

    target: str | None = None
    source: str | None = None
    set: SourceConfig | None = None
    target_encoder: EncoderConfig | None = None
    passages: bool = False
    storage_options: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def problems(self) -> list[str]:
        if (self.target is None) == (self.set is None):
            return ["target: give exactly one of target (an anchor table) or set (anchor items the job embeds)"]
        if self.set is not None and self.target_encoder is None:
            return ["target_encoder: required with set, to embed the anchor set in the target space"]
        if self.set is None and self.target_encoder is not None:
            return ["target_encoder: only used with set; drop it, or give the anchor set"]
        if self.set is not None and self.set.modality == "vector":
            return ["set: anchor items need a text_column or image_column to embed"]
        if self.passages and (self.set is None or self.set.modality != "text" or self.source is not None):
            return ["passages: paragraphs are cut from an anchor set of texts and embedded by both models; give "
                    "a set with a text_column and no source table"]
        return [*package_path_problems("target", self.target), *package_path_problems("source", self.source)]
