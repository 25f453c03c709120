"""The driver of a shard job: plan shards, claim the outputs (refusing to mix with a different job's), skip
finished shards, run the rest on the Ray pool, and write each output's manifest and ``_SUCCESS`` last.

Jobs describe what to write (:class:`PlannedOutput`: a table, its provenance, its translator); the driver runs
it. It holds per-shard counts only, never rows.
"""

from __future__ import annotations

import dataclasses
import sys
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from pipeline.config import EncoderConfig, ExecutionConfig, OutputConfig, SourceConfig
from pipeline.engine.duplicates import REPEATS_DIR, file_ids, find_repeats
from pipeline.engine.job import ShardJob, ShardOutput, ShardResult
from pipeline.engine.outputs import claim_output, one_id_type, redo_if_translator_changed, resumable
from pipeline.engine.translator_files import save_translator_next_to
from pipeline.io.sink import OutputDir
from pipeline.io.sources import Shard, plan_shards
from pipeline.translate import FittedTranslator


@dataclasses.dataclass(frozen=True)
class Summary:
    """What a job did, printed at the end and written into each output's manifest.

    Every output of a job receives the same rows (a row rejected for one output is rejected for all), so the
    row counts hold for each output table.
    """

    outputs: tuple[str, ...]
    shards: int
    shards_skipped: int
    rows_in: int
    rows_out: int
    rows_quarantined: int
    seconds: float
    stage_seconds: Mapping[str, float]
    workers: tuple[Mapping[str, Any], ...] = ()
    failed: Mapping[str, str] = dataclasses.field(default_factory=dict)  # {part name: reason}

    @property
    def rows_per_second(self) -> float:
        return self.rows_in / self.seconds if self.seconds else 0.0

    def task_peaks(self) -> dict[str, float]:
        """The highest peak memory of any prepare and any write task process, in MB."""
        return {stage: max((w.get(f"{stage}_peak_rss_mb", 0.0) for w in self.workers), default=0.0)
                for stage in ("prepare", "write")}

    def lines(self) -> list[str]:
        stages = ", ".join(f"{stage} {seconds:.1f} s" for stage, seconds in self.stage_seconds.items())
        return [
            *(f"output:      {url}" for url in self.outputs),
            f"shards:      {self.shards} ({self.shards_skipped} already done, skipped)",
            f"rows:        {self.rows_in} in, {self.rows_out} out, {self.rows_quarantined} quarantined"
            + (" (each output)" if len(self.outputs) > 1 else ""),
            f"time:        {self.seconds:.1f} s, {self.rows_per_second:.1f} rows/s (worker time: {stages})",
            f"workers:     {len(self.workers)} model process(es)"
            + "".join(f"; pid {w['pid']} on GPU {w['cuda_visible_devices'] or '-'}, peak {w['peak_rss_mb']:.0f} MB"
                      for w in self.workers)
            + "".join(f"; {stage} tasks peak {peak:.0f} MB" for stage, peak in self.task_peaks().items()),
            *(f"FAILED:      {name} ({reason})" for name, reason in self.failed.items()),
        ]


class ShardsFailed(RuntimeError):
    """Some shards' inputs could not be read: the rest are written, ``_SUCCESS`` is not, and a rerun (after the
    inputs are fixed) does only the failed shards."""

    def __init__(self, summary: Summary) -> None:
        super().__init__(f"{len(summary.failed)} shard(s) failed: {', '.join(summary.failed)}")
        self.summary = summary


@dataclasses.dataclass(frozen=True)
class PlannedOutput:
    """One output table of a job: where it goes, what its parts record, and what it applies to the vectors.

    Attributes:
        config: the output block (path, overwrite, storage options).
        snapshot: the config that made this table, written into its manifest.
        provenance: written into every part; carries the ``job_fingerprint`` that guards the directory.
        translator: applied in the actors; None writes the vectors as they are.
        content_hash, row_facts: as in :class:`~pipeline.engine.job.ShardOutput`.
        records: the records folder, when not the output's own (a nightly upgrade keeps them in its run).
        publish: publish a store when every shard is staged; False leaves the staged shards for the caller to
            publish together with others (a model upgrade publishes translated and native rows as one version).
    """

    config: OutputConfig
    snapshot: Mapping[str, Any]
    provenance: Mapping[str, Any]
    translator: FittedTranslator | None = None
    content_hash: bool = False
    row_facts: Mapping[str, str] = dataclasses.field(default_factory=dict)
    records: str | None = None
    publish: bool = True

    def shard_output(self) -> ShardOutput:
        config = self.config
        return ShardOutput(self.records or config.records, config.storage_options, self.provenance, self.translator,
                           config.store, staging_run(self.provenance), config.index, self.content_hash,
                           dict(self.row_facts))

    def open(self) -> OutputDir:
        """The output's directory (for a store, its records folder), as the driver and the write tasks see it."""
        return self.shard_output().open()


def staging_run(provenance: Mapping[str, Any]) -> str:
    """A store's staging id for a job: its fingerprint, shortened (it names staging tables and files)."""
    return str(provenance["job_fingerprint"])[:16]


def run_shard_job(
    source: SourceConfig,
    encoder: EncoderConfig,
    execution: ExecutionConfig,
    outputs: Sequence[PlannedOutput],
    keep_ids: str | None = None,
) -> Summary:
    """Plan shards, claim the outputs, start Ray, run the shards not yet in every output, write the manifests.

    A shard counts as done only when every output holds it; otherwise it is redone for all of them (each part
    is written atomically under a deterministic name, so redoing one replaces it with the same rows).

    Args:
        source: the input rows.
        encoder: the model (or ``precomputed`` for stored vectors) every actor loads once.
        execution: actors, resources, the Ray address.
        outputs: the tables every shard is written into.
        keep_ids: read only the source rows listed there (``ShardJob.keep_ids``).
    """
    from pipeline.engine.ray_pool import connect, run_shards

    shards = plan_shards(source.path, source.format, source.files_per_shard, dict(source.storage_options),
                         execution.chunk_bytes, execution.chunk_rows, source.store)
    directories = [planned.open() for planned in outputs]
    for planned, directory in zip(outputs, directories, strict=True):
        claim_output(directory, planned.provenance["job_fingerprint"], planned.config.overwrite)
        if planned.translator is not None:
            redo_if_translator_changed(directory, planned.translator)
            save_translator_next_to(directory, planned.translator)
    connect(execution)
    started = time.perf_counter()
    finished_before = set.intersection(*(resumable(directory, shards) for directory in directories))
    todo = [shard for shard in shards if shard.name not in finished_before]
    if todo:
        for directory in directories:
            directory.withdraw_success()
    repeats = find_repeated_ids(source, shards, directories[0], execution) if todo and keep_ids is None else None
    job = ShardJob(source, tuple(planned.shard_output() for planned in outputs), encoder, execution.batch_size,
                   keep_ids, repeats)
    progress = Progress(len(todo))
    results = []
    for result in run_shards(todo, job, execution):
        progress.update(result)
        results.append(result)
    results = one_id_type(results, directories)
    summary = summarise([describe_output(planned.config) for planned in outputs], shards, results,
                        time.perf_counter() - started)
    for planned, directory in zip(outputs, directories, strict=True):
        # A store is published only whole: with a failed shard, readers keep the previous table.
        whole = not summary.failed and planned.publish
        published = directory.publish([s.name for s in shards], planned.provenance) if whole else {}
        write_manifest(directory, shards, planned.snapshot, planned.provenance, summary, published)
    if summary.failed:
        raise ShardsFailed(summary)
    return summary


def find_repeated_ids(source: SourceConfig, shards: Sequence[Shard], records: OutputDir,
                      execution: ExecutionConfig) -> str | None:
    """Find the ids repeated across the job's shards (:mod:`pipeline.engine.duplicates`), in tasks; returns the
    folder the prepare stage reads them from, or None for sources whose ids are unique by construction (file
    paths of a folder, a PostgreSQL primary key)."""
    from pipeline.engine.ray_pool import map_tasks

    if source.format in ("text", "images", "pgvector"):
        return None
    base = f"{records.root}/{REPEATS_DIR}"
    if records.fs.exists(base):
        records.fs.rm(base, recursive=True)
    # A folder of its own per run: processes that cached an earlier run's answer never reuse it.
    folder = f"{records.url.rstrip('/')}/{REPEATS_DIR}/{uuid.uuid4().hex[:12]}"
    partitions = max(1, min(64, len(shards)))
    map_tasks(file_ids, [{"source": source, "shard": shard, "order": i, "partitions": partitions, "records": folder}
                         for i, shard in enumerate(shards)], execution)
    map_tasks(find_repeats, [{"partition": p, "records": folder} for p in range(partitions)], execution)
    return folder


def describe_output(config: OutputConfig) -> str:
    """An output as a summary line shows it: its path, or its store table (never a connection string)."""
    return config.path if config.store is None else config.store.describe()


def write_manifest(
    output: OutputDir, shards: list[Shard], snapshot: Mapping[str, Any], provenance: Mapping[str, Any],
    summary: Summary, published: Mapping[str, Any] | None = None,
) -> None:
    """Config snapshot, provenance and per-shard counts of every planned shard, whichever run wrote it, and
    for a store, what its publish did (table version, rows)."""
    planned = {shard.name for shard in shards}
    per_shard = {name: counts for name, counts in sorted(output.finished_shards().items()) if name in planned}
    output.write_manifest({
        "config": snapshot,
        "provenance": dict(provenance),
        "shards": per_shard,
        "totals": {key: sum(c[key] for c in per_shard.values()) for key in ("rows_in", "rows_out", "rows_quarantined")},
        "failed": dict(summary.failed),
        "this_run": dataclasses.asdict(summary),
        **({"published": dict(published)} if published else {}),
    }, complete=not summary.failed)


def summarise(outputs: list[str], shards: list[Shard], outcomes: list[ShardResult], seconds: float) -> Summary:
    failed = {r.shard: r.failed for r in outcomes if r.failed is not None}
    results = [r for r in outcomes if r.failed is None]
    stage_seconds: dict[str, float] = {}
    for result in results:
        for stage, spent in result.seconds.items():
            stage_seconds[stage] = stage_seconds.get(stage, 0.0) + spent
    return Summary(
        outputs=tuple(outputs),
        shards=len(shards),
        shards_skipped=len(shards) - len(outcomes),
        rows_in=sum(r.rows_in for r in results),
        rows_out=sum(r.rows_out for r in results),
        rows_quarantined=sum(r.rows_quarantined for r in results),
        seconds=seconds,
        stage_seconds=stage_seconds,
        workers=tuple(_workers(results)),
        failed=failed,
    )


def _workers(results: list[ShardResult]) -> list[dict[str, Any]]:
    """One entry per actor process, with the highest peak memory any of its chunks reported (its own, and that
    of the prepare and write tasks that handled them)."""
    by_pid: dict[int, dict[str, Any]] = {}
    for result in results:
        known = by_pid.setdefault(result.worker["pid"], dict(result.worker))
        for key in ("peak_rss_mb", "prepare_peak_rss_mb", "write_peak_rss_mb"):
            known[key] = max(known.get(key, 0.0), result.worker.get(key, 0.0))
    return list(by_pid.values())


class Progress:
    """Progress lines to stderr with rows/s and an ETA, so long jobs never look hung.

    A line per finished shard would flood the log of a job with thousands of small shards, so lines come at
    most every ``every_s`` seconds, plus one for the last shard.
    """

    def __init__(self, total_shards: int, every_s: float = 5.0) -> None:
        self.total, self.done, self.rows = total_shards, 0, 0
        self.every_s = every_s
        self.started = self.last_line = time.perf_counter()

    def update(self, result: ShardResult) -> None:
        if result.failed is not None:
            print(f"shard {result.shard} FAILED: {result.failed}", file=sys.stderr, flush=True)
        self.done += 1
        self.rows += result.rows_in
        now = time.perf_counter()
        if now - self.last_line < self.every_s and self.done < self.total:
            return
        self.last_line = now
        elapsed = now - self.started
        eta = elapsed / self.done * (self.total - self.done)
        print(
            f"[{self.done}/{self.total} shards] last {result.shard}: {result.rows_out} rows, "
            f"{result.rows_quarantined} quarantined; {self.rows / elapsed:.1f} rows/s, eta {eta:.0f} s",
            file=sys.stderr,
            flush=True,
        )
