"""The encode stage, in a GPU-pinned actor: the model and the fused translation, nothing else.

One :class:`ChunkEncoder` per actor loads the model once. It takes a prepared chunk, runs the encoder, and fans
one encoding pass out to every output of the job: each output applies its own translator (or none, for the
source-space table) in the same actor, so source vectors never travel. It returns the finished tables; writing
them is the next stage's work, so the actor is free for the next chunk while they are written.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pyarrow as pa

from pipeline.encoders import build_encoder, resolve_model_options
from pipeline.encoders.batching import Ragged
from pipeline.engine import quarantine
from pipeline.engine.chunks import EncodedChunk, PreparedChunk
from pipeline.engine.job import ShardJob
from pipeline.engine.process import process_info, quiet_model_loading, release_memory
from pipeline.io.output import Output
from pipeline.io.records import quarantine_table
from pipeline.io.stores import CONTENT_HASH_COLUMN
from pipeline.io.tables import embedding_table


class ChunkEncoder:
    """Holds one encoder and the outputs' translator plans, loaded once per actor."""

    def __init__(self, job: ShardJob) -> None:
        self.job = job
        if job.source.modality != "vector":  # stored vectors load no model, and need not import transformers
            quiet_model_loading()
        self.encoder = build_encoder(job.encoder.kind, **resolve_model_options(job.encoder.kind, job.encoder.options))

    def __call__(self, chunk: PreparedChunk) -> EncodedChunk:
        if chunk.failed is not None:
            return EncodedChunk(chunk.shard, (), None, {}, chunk.seconds, chunk.info, chunk.failed)
        started = time.perf_counter()
        vectors = self._vectors(chunk.items)
        encoded = time.perf_counter()
        keep, bad = chunk.keep, dict(chunk.bad)
        results = [self._translated(output, vectors) for output in self.job.outputs]
        for translated in results:  # an output rejected for one table is rejected for all
            bad.update(quarantine.output_problems(translated, keep))
        good = np.flatnonzero(~np.isin(keep, np.fromiter(bad, dtype=np.int64, count=len(bad))))
        rows = pa.array(keep[good], type=pa.int64())
        good_ids, hashes = chunk.ids.take(rows), None if chunk.hashes is None else chunk.hashes.take(rows)
        parts = tuple(
            _part(good_ids, translated[good], output, hashes)
            for output, translated in zip(self.job.outputs, results, strict=True)
        )
        unreadable = len(chunk.unreadable)
        counts = {
            "rows_in": len(chunk.ids) + unreadable,
            "rows_out": len(good),
            "rows_quarantined": len(bad) + unreadable,
        }
        stage = "vectors" if self.job.source.modality == "vector" else "encode"
        seconds = {**chunk.seconds, stage: encoded - started, "translate": time.perf_counter() - encoded}
        release_memory()
        set_aside = quarantine_table(bad, chunk.ids, chunk.shard.location, chunk.unreadable)
        return EncodedChunk(chunk.shard, parts, set_aside, counts, seconds, {**chunk.info, **process_info()})

    def _vectors(self, items: Any) -> np.ndarray:
        """The ``(m, dim)`` float32 vectors of the chunk's kept rows."""
        if not len(items):
            return np.zeros((0, self.encoder.dim), dtype=np.float32)
        # Token rows from the prepare stage go in whole (the encoder plans their batches by tokens); images in
        # batches of batch_size, since each decoded image is large.
        if isinstance(items, Ragged) or self.encoder.modality != "image":
            return self.encoder.encode(items)
        step = self.job.batch_size
        return np.concatenate([self.encoder.encode(items[i : i + step]) for i in range(0, len(items), step)])

    @staticmethod
    def _translated(output: Output, vectors: np.ndarray) -> np.ndarray:
        if output.translator is None:
            return vectors
        if not len(vectors):  # an all-rejected chunk still writes an (empty) part of the target's width
            return np.zeros((0, output.translator.target_dim), dtype=np.float32)
        return output.translator.plan.apply(vectors)


def _part(ids: pa.Array, vectors: np.ndarray, output: Output, hashes: pa.Array | None) -> pa.Table:
    """One output's table of a chunk: ``id``, ``embedding``, the rows' ``content_hash`` when the output keeps it,
    and its constant row facts."""
    table = embedding_table(ids, vectors, output.provenance)
    if output.hashed:
        table = table.append_column(CONTENT_HASH_COLUMN, hashes)
    for name, value in output.row_facts.items():
        table = table.append_column(name, pa.array([value] * table.num_rows, pa.string()))
    return table
