"""All three stages of a chunk in one process, without Ray: prepare, encode and translate, write.

The job runs the stages apart (:mod:`pipeline.engine.ray_pool`): preparation and writing as CPU tasks, the model
in GPU-pinned actors. :class:`ShardWorker` chains the same three objects in one process, for a machine without
Ray (the GPU check) and for tests that follow one chunk through. Every input row ends up exactly once in each
output, either in its part file or in its quarantine file with the reason (:mod:`pipeline.engine.quarantine`).
"""

from __future__ import annotations

from pipeline.engine.encode import ChunkEncoder
from pipeline.engine.job import ShardJob, ShardResult
from pipeline.engine.prepare import ChunkPreparer
from pipeline.engine.write import write_chunk
from pipeline.io.sources import Shard


def preparer_for(job: ShardJob) -> ChunkPreparer:
    """The prepare stage of ``job``: its source and encoder block, without the translators."""
    return ChunkPreparer(job.source, job.encoder, job.source_dim, job.with_hashes, job.keep_ids, job.repeats)


class ShardWorker:
    """Loads the model once, then prepares, encodes and writes one shard chunk per call."""

    def __init__(self, job: ShardJob) -> None:
        self.prepare = preparer_for(job)
        self.encode = ChunkEncoder(job)
        self.outputs = job.outputs

    def __call__(self, shard: Shard) -> ShardResult:
        return write_chunk(self.encode(self.prepare(shard)), self.outputs)
