"""One shard inside an actor, without Ray: read it, set bad rows aside, encode the rest, translate, write.

``ray_pool`` runs one :class:`ShardWorker` per actor (one model per actor) and hands it whole shards. Every
source goes through an encoder: a model for texts and images, the ``precomputed`` encoder for vectors a table
already holds. One encoding pass fans out to every output of the job: each output applies its own translator
(or none, for the source-space table) in the same actor, so source vectors never travel. Every input row ends up
exactly once in each output, either in its part file or in its quarantine file with the reason
(:mod:`pipeline.engine.quarantine`).
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import os
import resource
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from pipeline.config import EncoderConfig, SourceConfig
from pipeline.engine import quarantine
from pipeline.io.sink import OutputDir, quarantine_table
from pipeline.io.sources import Shard, read_shard
from pipeline.io.tables import embedding_table
from pipeline.translate import FittedTranslator


@dataclass(frozen=True)
class ShardResult:
    """What one shard produced, for the job summary and the manifest."""

    shard: str
    rows_in: int
    rows_out: int
    rows_quarantined: int
    seconds: Mapping[str, float]
    worker: Mapping[str, Any] = field(default_factory=dict)
    failed: str | None = None  # why the shard's input could not be read; nothing was written for it


@dataclass(frozen=True)
class ShardOutput:
    """One table every shard is written into.

    Attributes:
        url, storage_options: the output directory and its fsspec options.
        provenance: JSON facts written into every part's metadata.
        translator: applied after encoding (its fused plan, one matmul per shard); None writes the vectors as
            they are. Shipped with the job, so every actor holds it once, wherever the actor runs.
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
        encoder: how to embed the content: a model, or ``precomputed`` for stored vectors.
        batch_size: images per encoder call (text encoders plan their own token-budget batches).
    """

    source: SourceConfig
    outputs: tuple[ShardOutput, ...]
    encoder: EncoderConfig
    batch_size: int = 64

    @property
    def source_dim(self) -> int | None:
        """The vector width every translator expects, when any output translates."""
        return next((o.translator.source_dim for o in self.outputs if o.translator is not None), None)


class ShardWorker:
    """Holds one encoder and the outputs' translator plans, loaded once per actor, and writes whole shards."""

    def __init__(self, job: ShardJob) -> None:
        from pipeline.encoders import build_encoder, resolve_model_options

        self.job = job
        self.outputs = [OutputDir(output.url, output.storage_options) for output in job.outputs]
        if job.source.modality != "vector":  # stored vectors load no model, and need not import transformers
            _quiet_model_loading()
        self.encoder = build_encoder(job.encoder.kind, **resolve_model_options(job.encoder.kind, job.encoder.options))

    def __call__(self, shard: Shard) -> ShardResult:
        source = self.job.source
        clock = {"start": time.perf_counter()}
        try:
            table = read_shard(shard, source.format, [source.id_column, source.content_column],
                               source.storage_options)
        except Exception as e:  # an unreadable input fails its own shard, not the job: the others still finish
            reason = f"{shard.location}: {type(e).__name__}: {e}"
            return ShardResult(shard.name, 0, 0, 0, seconds={}, worker=worker_info(), failed=reason)
        ids = table.column(source.id_column).combine_chunks()
        clock["read"] = time.perf_counter()
        keep, vectors, bad = self._encode(ids, table.column(source.content_column))
        clock["vectors" if source.modality == "vector" else "encode"] = time.perf_counter()
        results = [self._translated(output, keep, vectors) for output in self.job.outputs]
        for translated in results:  # an output rejected for one table is rejected for all
            bad.update(quarantine.output_problems(translated, keep))
        clock["translate"] = time.perf_counter()
        good = np.flatnonzero(~np.isin(keep, np.fromiter(bad, dtype=np.int64, count=len(bad))))
        good_ids = ids.take(pa.array(keep[good], type=pa.int64()))
        rejected = quarantine_table(bad, ids, shard.location)
        counts = {"rows_in": table.num_rows, "rows_out": len(good), "rows_quarantined": len(bad)}
        for output, directory, translated in zip(self.job.outputs, self.outputs, results, strict=True):
            part = embedding_table(good_ids, translated[good], output.provenance)
            directory.write_part(shard.name, part, rejected, {**counts, "shard": shard.key})
        clock["write"] = time.perf_counter()
        _release_memory()
        return ShardResult(shard.name, **counts, seconds=_durations(clock), worker=worker_info())

    def _encode(self, ids: pa.Array, content: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray, dict[int, str]]:
        """Rows kept, their ``(len(keep), d)`` vectors, and ``{row: reason}`` for the rest."""
        items, bad = quarantine.prepare_content(content, self.job.source.modality, self.job.source_dim)
        bad.update(quarantine.id_problems(ids))
        keep = quarantine.kept(len(ids), bad)
        return keep, self._vectors(quarantine.take(items, keep)), bad

    def _vectors(self, items: Any) -> np.ndarray:
        if not len(items):
            return np.zeros((0, self.encoder.dim), dtype=np.float32)
        step = self.job.batch_size if self.encoder.modality == "image" else len(items)
        return np.concatenate([self.encoder.encode(items[i : i + step]) for i in range(0, len(items), step)])

    @staticmethod
    def _translated(output: ShardOutput, keep: np.ndarray, vectors: np.ndarray) -> np.ndarray:
        if output.translator is None:
            return vectors
        if not len(keep):  # an all-rejected shard still writes an (empty) part of the target's width
            return np.zeros((0, output.translator.target_dim), dtype=np.float32)
        return output.translator.plan.apply(vectors)


def _release_memory() -> None:
    """Hand a finished chunk's freed memory back, so an actor's peak stays at one chunk's worth rather than
    creeping up over the many chunks of a big file: Arrow's pool and glibc's heap both keep freed blocks."""
    pa.default_memory_pool().release_unused()
    with contextlib.suppress(OSError, AttributeError):  # glibc only
        ctypes.CDLL("libc.so.6").malloc_trim(0)


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


def _durations(clock: dict[str, float]) -> dict[str, float]:
    stages = list(clock)
    return {stage: clock[stage] - clock[previous] for previous, stage in itertools.pairwise(stages)}
