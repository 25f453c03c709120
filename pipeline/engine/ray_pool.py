"""The only module that imports Ray: start or join a cluster, and run the stages of a shard job on it.

A Ray Dataset of shard chunks flows through three ``map_batches`` stages: preparation as CPU tasks, the model
on a GPU-pinned actor pool (``ActorPoolStrategy``, ``num_gpus`` per actor), writing as CPU tasks. Each chunk
travels as one row (:mod:`pipeline.engine.chunks`), so outputs follow input chunks, never Ray's block layout.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypedDict

import pyarrow as pa

from pipeline.config import ExecutionConfig
from pipeline.engine.chunks import (
    encoded_from_row,
    encoded_to_row,
    prepared_from_row,
    prepared_to_row,
    shard_from_json,
    shard_to_json,
)
from pipeline.engine.encode import ChunkEncoder
from pipeline.engine.job import ShardJob, ShardResult
from pipeline.engine.prepare import ChunkPreparer
from pipeline.engine.worker import ShardWorker, preparer_for
from pipeline.engine.write import write_chunk
from pipeline.io.output import Output
from pipeline.io.sources import Shard

# Ray binds to the machine's network address unless told otherwise, and a local run must stay on loopback.
# Ray reads this switch when it is imported, so it is set here, before any import of ray.
LOOPBACK = "127.0.0.1"
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

if TYPE_CHECKING:  # a type only: ray itself is imported in the functions that use it, after the switch above
    from ray.data import TaskPoolStrategy

# Actors that die in a row while loading their model (killed, out of memory) and are replaced; one more fails the
# job with the error, so a model that cannot load at all is not retried for ever.
ACTOR_INIT_DEATHS = 2


def connect(execution: ExecutionConfig, say: Callable[[str], None] | None = None) -> None:
    """Join the cluster named by ``execution.address`` (and say which), or start a private local Ray.

    Without an address the job always starts its own Ray on 127.0.0.1 (``address="local"``): ``ray.init()``
    would join any other Ray on the machine, or follow the address a stopped one left in Ray's temporary folder,
    and then refuse our ``num_cpus``.
    """
    import ray

    if ray.is_initialized():
        return
    if execution.address is not None:
        ray.init(address=execution.address, log_to_driver=True)
        resources = ray.cluster_resources()
        (say or _stderr)(
            f"ray:         joined {ray.get_runtime_context().gcs_address} ({execution.address}): "
            f"{len(ray.nodes())} node(s), {resources.get('CPU', 0):g} CPUs, {resources.get('GPU', 0):g} GPUs"
        )
        return
    ray.init(
        address="local",
        num_cpus=execution.num_cpus or max(4, os.cpu_count() or 1),
        num_gpus=execution.num_gpus,
        include_dashboard=False,
        _node_ip_address=LOOPBACK,
        log_to_driver=True,
    )


def warm_up() -> None:
    """Run a one-row Ray Data pipeline, so that Ray Data's own actors (stats, autoscaling) are up: its first
    execution in a session takes a few seconds more than the next ones. For measurements that leave start-up out."""
    import ray.data

    _quiet_data_context()
    ray.data.range(1, override_num_blocks=1).materialize()


def _quiet_data_context() -> Any:
    """Ray Data's context, without its progress bars and INFO lines: the job prints its own progress lines
    (``Progress``), and Ray Data's ("execution finished in ...") would interleave with them. Warnings still show."""
    import ray.data

    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    return context


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def gpus_per_actor(execution: ExecutionConfig) -> float:
    """``auto`` is one GPU per actor where the cluster has GPUs, else none."""
    import ray

    if execution.gpus_per_actor != "auto":
        return float(execution.gpus_per_actor)
    return 1.0 if ray.cluster_resources().get("GPU", 0) >= 1 else 0.0


def task_pool_size(execution: ExecutionConfig, actors: int) -> int:
    """How many prepare (and write) tasks may run at once: as many as the cluster's CPUs hold.

    Never the actor pool's size: Ray Data fuses a task stage into the actor stage after it when the pool sizes
    match, and fused, the actors would read and tokenize again while the GPU waits.
    """
    import ray

    size = max(1, int(ray.cluster_resources().get("CPU", 1) // execution.cpus_per_task))
    return size + 1 if size == actors else size


def whole_chunk_tasks(execution: ExecutionConfig) -> int:
    """How many whole-chunk tasks (stored vectors) may run at once: one per core.

    A private local Ray declares at least 4 CPUs (see :func:`connect`), so that tasks and actors cannot deadlock
    on 2 cores; for work that only computes, that many tasks on 2 cores is oversubscription: it ran at 0.6-0.8 of
    a bare pyarrow copy where one task per core ran at 0.83-0.94.
    """
    size = task_pool_size(execution, actors=0)
    if execution.address is None and execution.num_cpus is None:
        size = min(size, os.cpu_count() or 1)
    return size


class _TaskOptions(TypedDict):
    """``map_batches`` arguments of the CPU task stages (prepare, write, and whole chunks of stored vectors)."""

    batch_size: int
    batch_format: str
    num_cpus: float
    compute: TaskPoolStrategy


def _prepare(batch: pa.Table, preparer: ChunkPreparer) -> pa.Table:
    """The prepare stage as a Ray Data task: shard rows in, one prepared-chunk row out per shard."""
    shards = batch.column("shard").to_pylist()
    return pa.concat_tables([prepared_to_row(preparer(shard_from_json(text))) for text in shards])


class _EncodeStage:
    """The encode stage of an actor: loads the model once, then encodes one prepared chunk per call."""

    def __init__(self, job: ShardJob) -> None:
        self.encode = ChunkEncoder(job)

    def __call__(self, batch: pa.Table) -> pa.Table:
        return pa.concat_tables(
            [encoded_to_row(self.encode(prepared_from_row(batch, i))) for i in range(batch.num_rows)]
        )


def _write(batch: pa.Table, outputs: list[Output]) -> pa.Table:
    """The write stage as a Ray Data task: encoded-chunk rows in, one JSON result row out per chunk."""
    return _results_table([write_chunk(encoded_from_row(batch, i), outputs) for i in range(batch.num_rows)])


def _results_table(results: list[ShardResult]) -> pa.Table:
    return pa.table({"result": [json.dumps(dataclasses.asdict(result)) for result in results]})


def _whole(batch: pa.Table, job: ShardJob) -> pa.Table:
    """Stored vectors as one Ray Data task per chunk: read, check, translate and write in the same process."""
    worker = ShardWorker(job)
    return _results_table([worker(shard_from_json(text)) for text in batch.column("shard").to_pylist()])


def run_shards(shards: list[Shard], job: ShardJob, execution: ExecutionConfig) -> Iterator[ShardResult]:
    """Run ``shards`` through the three stages, yielding results as chunks are written (in completion order).

    prepare (CPU tasks) -> encode (the GPU-pinned actor pool) -> write (CPU tasks), on Ray Data's streaming
    executor: its backpressure bounds what waits between stages, and the stages overlap, so the actors run the
    model while other chunks are read, tokenized and written. The dataset starts with one row per shard (its
    files and range, not its rows), and every stage turns one chunk row into one chunk row, so a part always
    holds exactly its shard's rows, whatever Ray's block layout. Ray Data restarts actors lost with a node and
    retries tasks; each part is written atomically under its shard's name, so a repeat replaces it. Stored
    vectors, which need no model, go through all three stages in one task per chunk instead (see below).

    Args:
        shards: the shards still to do.
        job: what every stage needs (source, encoder, outputs with their translators).
        execution: actor count and resources.
    """
    import ray.data
    from ray.data import ActorPoolStrategy, TaskPoolStrategy

    if not shards:
        return
    context = _quiet_data_context()
    # Start every actor (and load its model) before the first chunk: otherwise the first actor up can take all
    # the chunks of a small job, and a model that cannot load fails the job at once rather than mid-way.
    context.wait_for_min_actors_s = execution.actor_start_timeout_s
    context.max_consecutive_actor_init_deaths = ACTOR_INIT_DEATHS
    dataset = ray.data.from_items(
        [{"shard": shard_to_json(shard)} for shard in shards], override_num_blocks=len(shards)
    )
    actors = min(execution.actors, len(shards))
    tasks: _TaskOptions = {
        "batch_size": 1,
        "batch_format": "pyarrow",
        "num_cpus": execution.cpus_per_task,
        "compute": TaskPoolStrategy(size=task_pool_size(execution, actors)),
    }
    if job.source.modality == "vector":
        # No model: nothing for a GPU to do but a small matmul, and moving every chunk between processes twice
        # cost more than the work itself (a third of a bare pyarrow copy's rate, against 0.7 or more in one
        # process). Each task does a whole chunk; as many run at once as the cores hold.
        tasks["compute"] = TaskPoolStrategy(size=whole_chunk_tasks(execution))
        # Ray types fn as a function of the batch alone, not knowing fn_kwargs supplies its other arguments.
        results = dataset.map_batches(_whole, fn_kwargs={"job": job}, **tasks)  # type: ignore[arg-type]
        for row in results.iter_rows():
            yield ShardResult(**json.loads(row["result"]))
        return
    # As above: Ray's type of fn leaves out the arguments fn_kwargs supplies.
    preparer = preparer_for(job)
    prepared = dataset.map_batches(_prepare, fn_kwargs={"preparer": preparer}, **tasks)  # type: ignore[arg-type]
    encoded = prepared.map_batches(
        _EncodeStage,
        fn_constructor_kwargs={"job": job},
        batch_size=1,
        batch_format="pyarrow",
        compute=ActorPoolStrategy(size=actors, max_tasks_in_flight_per_actor=1),
        num_gpus=gpus_per_actor(execution),
        num_cpus=execution.cpus_per_actor,
    )
    # The write tasks need no translator: each holds only where its outputs go.
    outputs = [dataclasses.replace(output, translator=None) for output in job.outputs]
    written = encoded.map_batches(_write, fn_kwargs={"outputs": outputs}, **tasks)  # type: ignore[arg-type]  # as above
    for row in written.iter_rows():
        yield ShardResult(**json.loads(row["result"]))


def map_tasks(function: Callable[..., Any], calls: list[dict[str, Any]], execution: ExecutionConfig) -> list[Any]:
    """Run ``function(**call)`` for every call as one Ray task each (``cpus_per_task`` CPUs); results in order.

    For stages with a handful of calls (a few per shard or partition) and small results. A task lost with its
    worker is retried, so the functions must be safe to run twice (they write files atomically, by name).
    """
    import ray

    if not calls:
        return []
    remote = ray.remote(num_cpus=execution.cpus_per_task, max_retries=3)(function)
    return ray.get([remote.remote(**call) for call in calls])
