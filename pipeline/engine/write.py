"""The write stage, on a CPU: a chunk's finished tables staged into every output.

In a job it runs as Ray Data tasks, so Parquet encoding and compression overlap with the actors' next chunks.
A part is staged under its shard's deterministic name and recorded (``<records>/shards/<part>.json``, with the
shard's key) only after its rows are in place (:meth:`pipeline.io.output.Output.stage`), so a retried or repeated
write replaces a part with the same rows; a transient storage error is retried in place (:mod:`pipeline.io.retry`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from functools import partial

from pipeline.engine.chunks import EncodedChunk
from pipeline.engine.job import ShardResult
from pipeline.engine.process import process_info, release_memory
from pipeline.io.output import Output
from pipeline.io.retry import with_retries


def write_chunk(chunk: EncodedChunk, outputs: Sequence[Output]) -> ShardResult:
    """Write ``chunk`` into ``outputs`` (the job's output order) and report what it held."""
    name = chunk.shard.name
    if chunk.failed is not None:
        return ShardResult(name, 0, 0, 0, seconds=dict(chunk.seconds), worker=dict(chunk.info), failed=chunk.failed)
    started = time.perf_counter()
    for output, part in zip(outputs, chunk.parts, strict=True):
        # The id type is recorded so the driver can keep one id type in the whole table.
        counts = {**chunk.counts, "shard": chunk.shard.key, "id_type": str(part.schema.field("id").type)}
        with_retries(partial(output.stage, name, part, chunk.quarantine, counts))
    seconds = {**chunk.seconds, "write": time.perf_counter() - started}
    release_memory()
    info = process_info()
    worker = {**chunk.info, "write_pid": info["pid"], "write_peak_rss_mb": info["peak_rss_mb"]}
    rows = chunk.counts
    return ShardResult(
        name, rows["rows_in"], rows["rows_out"], rows["rows_quarantined"], seconds=seconds, worker=worker
    )
