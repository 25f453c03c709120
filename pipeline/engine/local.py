"""The stages of a shard job in local processes, without Ray: where Ray cannot be installed (a GPU machine
lent for a short check) or is not wanted.

Preparation runs in a pool of worker processes, encoding in this process (it holds the model and the GPU), and
writing in a background thread, one chunk behind: the same three stages, the same objects and the same chunk
rows as the Ray engine (:mod:`pipeline.engine.ray_pool`), with a bounded number of chunks in flight in place of
Ray Data's backpressure.
"""

from __future__ import annotations

import itertools
import multiprocessing
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor

import pyarrow as pa

from pipeline.engine.chunks import prepared_from_row, prepared_to_row
from pipeline.engine.encode import ChunkEncoder
from pipeline.engine.job import ShardJob, ShardResult
from pipeline.engine.prepare import ChunkPreparer
from pipeline.engine.worker import preparer_for
from pipeline.engine.write import write_chunk
from pipeline.io.sources import Shard


def _prepare_row(preparer: ChunkPreparer, shard: Shard) -> pa.Table:
    return prepared_to_row(preparer(shard))


class LocalStages:
    """Prepare in worker processes, encode in this one, write on a thread; a context manager holding all three.

    The processes and the model stay up between :meth:`run` calls, so a second run measures the stages alone,
    not the start-up (spawning processes, importing transformers, loading the tokenizer and the model).

    Args:
        job: the job's source, encoder and outputs.
        prepare_processes: worker processes that read, check and tokenize (each loads the tokenizer once).
    """

    def __init__(self, job: ShardJob, prepare_processes: int) -> None:
        self.encode = ChunkEncoder(job)
        self.outputs = job.outputs
        self.preparer = preparer_for(job)
        self.ahead = 2 * prepare_processes  # chunks prepared ahead of the model: bounds memory, keeps all busy
        # spawn: a forked child would inherit this process's CUDA context and torch threads.
        self.pool = ProcessPoolExecutor(prepare_processes, mp_context=multiprocessing.get_context("spawn"))
        self.writer = ThreadPoolExecutor(1, thread_name_prefix="irp-write")

    def __enter__(self) -> LocalStages:
        return self

    def __exit__(self, *exc: object) -> None:
        self.pool.shutdown(cancel_futures=True)
        self.writer.shutdown()

    def run(self, shards: Sequence[Shard]) -> Iterator[ShardResult]:
        """Every shard through the three stages; results in plan order, each once its parts are written."""
        queue = iter(shards)
        pending: deque[Future[pa.Table]] = deque(
            self.pool.submit(_prepare_row, self.preparer, shard) for shard in itertools.islice(queue, self.ahead)
        )
        writing: Future[ShardResult] | None = None
        while pending:
            chunk = self.encode(prepared_from_row(pending.popleft().result()))
            next_shard = next(queue, None)
            if next_shard is not None:  # one chunk in, one out: the number prepared ahead stays at `ahead`
                pending.append(self.pool.submit(_prepare_row, self.preparer, next_shard))
            if writing is not None:
                yield writing.result()
            writing = self.writer.submit(write_chunk, chunk, self.outputs)
        if writing is not None:
            yield writing.result()
