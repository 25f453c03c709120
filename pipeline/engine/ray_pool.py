"""The only module that imports Ray: start or join a cluster, and run shard workers on a GPU-pinned actor pool.

A Ray Dataset of shards feeds ``map_batches`` over an actor pool (``ActorPoolStrategy``). Each actor holds one
model on its own GPU (``num_gpus`` per actor) and processes whole shards, so outputs follow input files and row
groups, never Ray's block layout.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

from pipeline.config import ExecutionConfig
from pipeline.engine.worker import ShardResult
from pipeline.io.sources import Shard

# Ray binds to the machine's network address unless told otherwise, and a local run must stay on loopback.
# Ray reads this switch when it is imported, so it is set here, before any import of ray (ENVIRONMENT.md).
LOOPBACK = "127.0.0.1"
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")


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


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def gpus_per_actor(execution: ExecutionConfig) -> float:
    """``auto`` is one GPU per actor where the cluster has GPUs, else none."""
    import ray

    if execution.gpus_per_actor != "auto":
        return float(execution.gpus_per_actor)
    return 1.0 if ray.cluster_resources().get("GPU", 0) >= 1 else 0.0


class _ShardStage:
    """The Ray Data stage of an actor: builds the worker once (it loads the model), then runs one shard per call."""

    def __init__(self, make_worker: Callable[[], Callable[[Shard], ShardResult]]) -> None:
        self.worker = make_worker()

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[str]]:
        results = [self.worker(shard_from_json(text)) for text in batch["shard"]]
        return {"result": [json.dumps(dataclasses.asdict(result)) for result in results]}


def run_shards(
    shards: list[Shard],
    make_worker: Callable[[], Callable[[Shard], ShardResult]],
    execution: ExecutionConfig,
) -> Iterator[ShardResult]:
    """Process ``shards`` on a Ray Data actor pool, yielding results as shards finish (in completion order).

    The dataset holds one row per shard (its files and row group, not its rows): each call reads its shard
    through fsspec, vectorises and writes it, so parts follow input shards whatever Ray's block layout. One
    shard in flight per actor keeps the pool balanced, and every actor is up before the first shard is handed
    out. Ray Data restarts actors lost with a node.

    Args:
        shards: the shards still to do.
        make_worker: builds the per-actor worker, called once inside each actor.
        execution: actor count and resources.
    """
    import ray.data
    from ray.data import ActorPoolStrategy

    if not shards:
        return
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False  # the job prints its own progress lines (Progress)
    context.print_on_execution_start = False
    # Start every actor (and load its model) before the first shard: otherwise the first actor up can take all
    # the shards of a small job, and a model that cannot load fails the job at once rather than mid-way.
    context.wait_for_min_actors_s = execution.actor_start_timeout_s
    dataset = ray.data.from_items([{"shard": shard_to_json(shard)} for shard in shards],
                                  override_num_blocks=len(shards))
    size = min(execution.actors, len(shards))
    results = dataset.map_batches(
        _ShardStage,
        fn_constructor_kwargs={"make_worker": make_worker},
        batch_size=1,
        compute=ActorPoolStrategy(size=size, max_tasks_in_flight_per_actor=1),
        num_gpus=gpus_per_actor(execution),
        num_cpus=execution.cpus_per_actor,
    )
    for row in results.iter_rows():
        yield ShardResult(**json.loads(row["result"]))


def shard_to_json(shard: Shard) -> str:
    return json.dumps(dataclasses.asdict(shard))


def shard_from_json(text: str) -> Shard:
    fields = json.loads(text)
    ranges = {key: tuple(fields[key]) for key in ("rows", "byte_range") if fields.get(key) is not None}
    return Shard(**{**fields, "files": tuple(fields["files"]), **ranges})
