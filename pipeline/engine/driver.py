"""The driver of a shard job: plan shards, claim the outputs, skip finished shards, run the rest on the cluster,
and publish each output once every shard is in.

Jobs describe what to write (:class:`~pipeline.io.output.Output`: a table, its provenance, its translator); the
driver runs it and talks to each output through its life (claim, resume, stage, finish). It holds per-shard counts
only, never rows.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence

from pipeline.config import ExecutionConfig, SourceConfig
from pipeline.encoders import EncoderConfig
from pipeline.engine.duplicates import file_ids, find_repeats
from pipeline.engine.job import ShardJob, ShardResult
from pipeline.engine.summary import Progress, ShardsFailed, Summary, summarize
from pipeline.io.folder import Folder
from pipeline.io.output import Output
from pipeline.io.sources import Shard, plan_source

REPEATS_DIR = "repeats"  # in the first output's scratch folder


def run_shard_job(
    source: SourceConfig,
    encoder: EncoderConfig,
    execution: ExecutionConfig,
    outputs: Sequence[Output],
    keep_ids: str | None = None,
) -> Summary:
    """Plan shards, claim the outputs, start Ray, run the shards not yet in every output, publish every output.

    A shard counts as done only when every output holds it; otherwise it is redone for all of them (each part
    is staged under a deterministic name, so redoing one replaces it with the same rows). An output is published
    only whole: with a failed shard, readers keep its previous version, and :class:`ShardsFailed` is raised.

    Args:
        source: the input rows.
        encoder: the model (or ``precomputed`` for stored vectors) every actor loads once.
        execution: actors, resources, the Ray address.
        outputs: the tables every shard is written into.
        keep_ids: read only the source rows listed there (``ShardJob.keep_ids``).
    """
    from pipeline.engine.ray_pool import connect, run_shards

    shards = plan_source(source, execution.chunk_bytes, execution.chunk_rows)
    for output in outputs:
        output.claim()
    finished_before = set.intersection(*(output.resume(shards) for output in outputs))
    todo = [shard for shard in shards if shard.name not in finished_before]
    connect(execution)
    started = time.perf_counter()
    scratch = outputs[0].records.work()
    try:
        repeats = find_repeated_ids(source, shards, scratch, execution) if todo and keep_ids is None else None
        job = ShardJob(source, tuple(outputs), encoder, execution.batch_size, keep_ids, repeats)
        progress = Progress(len(todo))
        results = []
        for result in run_shards(todo, job, execution):
            progress.update(result)
            results.append(result)
    finally:
        scratch.remove()  # the duplicate-id pass is redone by every run: nothing in it outlives this one
    results = one_id_type(results, outputs)
    summary = summarize(
        [output.describe() for output in outputs],
        shards,
        results,
        time.perf_counter() - started,
        {output.describe(): output.records.quarantine_url() for output in outputs},
    )
    for output in outputs:
        output.finish(shards, dataclasses.asdict(summary), complete=not summary.failed)
    if summary.failed:
        raise ShardsFailed(summary)
    return summary


def find_repeated_ids(
    source: SourceConfig, shards: Sequence[Shard], scratch: Folder, execution: ExecutionConfig
) -> str | None:
    """Find the ids repeated across the job's shards (:mod:`pipeline.engine.duplicates`), in tasks; returns the
    folder the prepare stage reads them from, or None for sources whose ids are unique by construction (file
    paths of a folder, a PostgreSQL primary key)."""
    from pipeline.engine.ray_pool import map_tasks

    if source.format in ("text", "images", "pgvector"):
        return None
    folder = scratch.sub(REPEATS_DIR)
    folder.remove()
    partitions = max(1, min(64, len(shards)))
    map_tasks(
        file_ids,
        [
            {"source": source, "shard": shard, "order": i, "partitions": partitions, "records": folder.url}
            for i, shard in enumerate(shards)
        ],
        execution,
    )
    map_tasks(find_repeats, [{"partition": p, "records": folder.url} for p in range(partitions)], execution)
    return folder.url


def one_id_type(results: list[ShardResult], outputs: Sequence[Output]) -> list[ShardResult]:
    """Keep one id type in the table: the parts whose ids have another type than the first part's (in shard
    order) are forgotten, and their shards reported failed with the reason.

    Two files of one source can disagree (``id`` int64 in one, string in another); written as they are, the parts
    would not read back as one table.
    """
    types = {name: counts["id_type"] for name, counts in outputs[0].finished().items() if "id_type" in counts}
    if len(set(types.values())) <= 1:
        return results
    first = min(types)
    wrong = {
        name: f"its ids are {kind}, but {types[first]} in {first}: one table holds one id type; cast the "
        "ids to one type in the source and rerun"
        for name, kind in types.items()
        if kind != types[first]
    }
    for output in outputs:
        output.forget(sorted(wrong))
    return [dataclasses.replace(r, failed=wrong[r.shard]) if r.shard in wrong else r for r in results]
