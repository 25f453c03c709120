"""Run a shard job end to end: plan shards, refuse to mix with a different job's output, skip finished shards,
run the workers on Ray, and write each output's manifest and ``_SUCCESS`` last. Also the ``embed`` job."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import tempfile
import time
from collections.abc import Mapping, Sequence
from typing import Any

from pipeline import __version__
from pipeline.config import EmbedConfig, EncoderConfig, ExecutionConfig, OutputConfig, SourceConfig
from pipeline.io.sink import OutputDir
from pipeline.io.sources import Shard, inputs_fingerprint, plan_shards
from pipeline.shard_worker import ShardJob, ShardOutput, ShardResult, ShardWorker
from pipeline.spaces import space_id
from pipeline.translate import FittedTranslator

JOB_FILE = "_job.json"
TRANSLATOR_DIR = "_translator"


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

    @property
    def rows_per_second(self) -> float:
        return self.rows_in / self.seconds if self.seconds else 0.0

    def lines(self) -> list[str]:
        stages = ", ".join(f"{stage} {seconds:.1f} s" for stage, seconds in self.stage_seconds.items())
        return [
            *(f"output:      {url}" for url in self.outputs),
            f"shards:      {self.shards} ({self.shards_skipped} already done, skipped)",
            f"rows:        {self.rows_in} in, {self.rows_out} out, {self.rows_quarantined} quarantined"
            + (" (each output)" if len(self.outputs) > 1 else ""),
            f"time:        {self.seconds:.1f} s, {self.rows_per_second:.1f} rows/s (worker time: {stages})",
            f"workers:     {len(self.workers)} actor(s)"
            + "".join(f"; pid {w['pid']} on GPU {w['cuda_visible_devices'] or '-'}, peak {w['peak_rss_mb']:.0f} MB"
                      for w in self.workers),
        ]


@dataclasses.dataclass(frozen=True)
class PlannedOutput:
    """One output table of a job: where it goes, what its parts record, and what it applies to the vectors.

    Attributes:
        config: the output block (path, overwrite, storage options).
        snapshot: the config that made this table, written into its manifest.
        provenance: written into every part; carries the ``job_fingerprint`` that guards the directory.
        translator: applied in the actors; None writes the vectors as they are.
    """

    config: OutputConfig
    snapshot: Mapping[str, Any]
    provenance: Mapping[str, Any]
    translator: FittedTranslator | None = None

    def shard_output(self) -> ShardOutput:
        return ShardOutput(self.config.path, self.config.storage_options, self.provenance, self.translator)


def run_embed(config: EmbedConfig) -> Summary:
    """The ``embed`` job: encode a source into an embedding table on a Ray actor pool."""
    return run_shard_job(config.source, config.encoder, config.execution, [embedding_output(config)])


def embedding_output(config: EmbedConfig, inputs: str | None = None) -> PlannedOutput:
    """The plan of a table of vectors in the encoder's own space (an ``embed`` job, or a job's source vectors).

    ``inputs`` is the source's ``inputs_fingerprint`` when the caller has it already (it lists every file).
    """
    snapshot = {**config_snapshot(config), "inputs": inputs or inputs_fingerprint_of(config.source)}
    provenance = {
        "space": config.output.space or space_id(config.encoder.kind, config.encoder.options),
        "encoder": {"kind": config.encoder.kind, **config.encoder.options},
        "job_fingerprint": fingerprint(snapshot),
        "package_version": __version__,
    }
    return PlannedOutput(config.output, snapshot, provenance)


def inputs_fingerprint_of(source: SourceConfig) -> str:
    """The identity of a source's files (names, sizes, modification stamps); see ``inputs_fingerprint``."""
    return inputs_fingerprint(source.path, source.format, dict(source.storage_options))


def save_translator_next_to(output: OutputDir, translator: FittedTranslator) -> None:
    """Keep the fitted translator (and the ``auto`` CV table) in ``<output>/_translator/``, on any filesystem."""
    with tempfile.TemporaryDirectory() as local:
        translator.save(local)
        output.fs.put(f"{local}/", f"{output.root}/{TRANSLATOR_DIR}/", recursive=True)


def run_shard_job(
    source: SourceConfig,
    encoder: EncoderConfig | None,
    execution: ExecutionConfig,
    outputs: Sequence[PlannedOutput],
) -> Summary:
    """Plan shards, claim the outputs, start Ray, run the shards not yet in every output, write the manifests.

    A shard counts as done only when every output holds it; otherwise it is redone for all of them (each part
    is written atomically under a deterministic name, so redoing one replaces it with the same rows).
    """
    from pipeline.execution import Progress, connect, run_shards

    shards = plan_shards(source.path, source.format, source.files_per_shard, dict(source.storage_options))
    directories = [OutputDir(planned.config.path, planned.config.storage_options) for planned in outputs]
    for planned, directory in zip(outputs, directories):
        claim_output(directory, planned.provenance["job_fingerprint"], planned.config.overwrite)
        if planned.translator is not None:
            save_translator_next_to(directory, planned.translator)
    job = ShardJob(source, tuple(planned.shard_output() for planned in outputs), encoder, execution.batch_size)
    connect(execution)
    started = time.perf_counter()
    finished_before = set.intersection(*(set(directory.finished_shards()) for directory in directories))
    todo = [shard for shard in shards if shard.name not in finished_before]
    progress = Progress(len(todo))
    results = []
    for result in run_shards(todo, lambda: ShardWorker(job), execution):
        progress.update(result)
        results.append(result)
    summary = summarise([planned.config.path for planned in outputs], shards, results,
                        time.perf_counter() - started)
    for planned, directory in zip(outputs, directories):
        write_manifest(directory, shards, planned.snapshot, planned.provenance, summary)
    return summary


def write_manifest(
    output: OutputDir, shards: list[Shard], snapshot: Mapping[str, Any], provenance: Mapping[str, Any],
    summary: Summary,
) -> None:
    """Config snapshot, provenance and per-shard counts of every planned shard, whichever run wrote it."""
    planned = {shard.name for shard in shards}
    per_shard = {name: counts for name, counts in sorted(output.finished_shards().items()) if name in planned}
    output.write_manifest({
        "config": snapshot,
        "provenance": dict(provenance),
        "shards": per_shard,
        "totals": {key: sum(c[key] for c in per_shard.values()) for key in ("rows_in", "rows_out", "rows_quarantined")},
        "this_run": dataclasses.asdict(summary),
    })


def claim_output(output: OutputDir, job_fingerprint: str, overwrite: bool) -> None:
    """Mark ``output`` as this job's, or refuse when a different job wrote there (unless ``overwrite``).

    Raises:
        ValueError: the directory holds another job's output; rerun with output.overwrite=true to replace it.
    """
    path = f"{output.root}/{JOB_FILE}"
    if output.fs.exists(path):
        with output.fs.open(path, "r") as f:
            previous = json.load(f).get("job_fingerprint")
        if previous == job_fingerprint:
            return  # same job: resume, keeping finished shards
        if not overwrite:
            raise ValueError(
                f"{output.url} holds the output of a different job (fingerprint {previous[:12]}…, this job "
                f"{job_fingerprint[:12]}…): its config or inputs changed. Use another output.path, or set "
                "output.overwrite=true to replace it"
            )
        output.fs.rm(output.root, recursive=True)
    output.fs.makedirs(output.root, exist_ok=True)
    with output.fs.open(path, "w") as f:
        json.dump({"job_fingerprint": job_fingerprint}, f)


# Credentials never reach a manifest, and how a job was run (actors, overwrite) does not change its tables.
UNRECORDED_KEYS = frozenset({"storage_options", "overwrite", "execution"})


def config_snapshot(config: Any) -> dict[str, Any]:
    """The config as JSON, without any ``storage_options`` and without settings that don't change output."""
    return _scrub(dataclasses.asdict(config))


def _scrub(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _scrub(item) for key, item in value.items() if key not in UNRECORDED_KEYS}
    if isinstance(value, (list, tuple)):
        return [_scrub(item) for item in value]
    return value


def fingerprint(snapshot: Mapping[str, Any]) -> str:
    """sha256 of the snapshot and the package version: a changed config or code release is a different job."""
    return hashlib.sha256(json.dumps([snapshot, __version__], sort_keys=True, default=str).encode()).hexdigest()


def summarise(outputs: list[str], shards: list[Shard], results: list[ShardResult], seconds: float) -> Summary:
    stage_seconds: dict[str, float] = {}
    for result in results:
        for stage, spent in result.seconds.items():
            stage_seconds[stage] = stage_seconds.get(stage, 0.0) + spent
    return Summary(
        outputs=tuple(outputs),
        shards=len(shards),
        shards_skipped=len(shards) - len(results),
        rows_in=sum(r.rows_in for r in results),
        rows_out=sum(r.rows_out for r in results),
        rows_quarantined=sum(r.rows_quarantined for r in results),
        seconds=seconds,
        stage_seconds=stage_seconds,
        workers=tuple(_workers(results)),
    )


def _workers(results: list[ShardResult]) -> list[dict[str, Any]]:
    """One entry per actor process, with the highest peak memory any of its shards reported."""
    by_pid: dict[int, dict[str, Any]] = {}
    for result in results:
        known = by_pid.setdefault(result.worker["pid"], dict(result.worker))
        known["peak_rss_mb"] = max(known.get("peak_rss_mb", 0.0), result.worker.get("peak_rss_mb", 0.0))
    return list(by_pid.values())
