"""Run a job end to end: plan shards, refuse to mix with a different job's output, skip finished shards,
run the workers on Ray, and write the manifest and ``_SUCCESS`` last."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import tempfile
import time
from collections.abc import Callable, Mapping
from typing import Any

from pipeline import __version__
from pipeline.anchors import load_paired_anchors
from pipeline.config import EmbedConfig, TranslateConfig
from pipeline.io.sink import OutputDir
from pipeline.io.sources import Shard, plan_shards
from pipeline.shard_worker import ShardJob, ShardResult, ShardWorker
from pipeline.spaces import space_id
from pipeline.translate import FittedTranslator, fit_translator

JOB_FILE = "_job.json"
TRANSLATOR_DIR = "_translator"


@dataclasses.dataclass(frozen=True)
class Summary:
    """What a job did, printed at the end and written into the manifest."""

    output: str
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
            f"output:      {self.output}",
            f"shards:      {self.shards} ({self.shards_skipped} already done, skipped)",
            f"rows:        {self.rows_in} in, {self.rows_out} out, {self.rows_quarantined} quarantined",
            f"time:        {self.seconds:.1f} s, {self.rows_per_second:.1f} rows/s (worker time: {stages})",
            f"workers:     {len(self.workers)} actor(s)"
            + "".join(f"; pid {w['pid']} on GPU {w['cuda_visible_devices'] or '-'}" for w in self.workers),
        ]


def run_embed(config: EmbedConfig) -> Summary:
    """The ``embed`` job: encode a source into an embedding table on a Ray actor pool."""
    snapshot = config_snapshot(config)
    provenance = {
        "space": config.output.space or space_id(config.encoder.kind, config.encoder.options),
        "encoder": {"kind": config.encoder.kind, **config.encoder.options},
        "job_fingerprint": fingerprint(snapshot),
        "package_version": __version__,
    }
    return run_shard_job(config, snapshot, provenance)


def run_translate(config: TranslateConfig, say: Callable[[str], None] = print) -> Summary:
    """The ``translate_corpus`` job: fit on the paired anchors, then translate every shard in the actors."""
    anchors = load_paired_anchors(
        config.anchors.target, config.anchors.source, config.anchors.storage_options,
        corpus_url=config.source.path, corpus_columns=(config.source.id_column, config.source.content_column or ""),
    )
    say(f"anchors: {len(anchors.ids)} paired on id ({anchors.unmatched} ids in only one table)")
    translator = fit_translator(anchors.source, anchors.target, config.translator.method, **config.translator.options)
    say(f"translator: {translator.method} {dict(translator.options)}" + _cv_line(translator))
    snapshot = {**config_snapshot(config), "anchors_fingerprint": anchors.fingerprint}
    source_space = anchors.source_space or (
        space_id(config.encoder.kind, config.encoder.options) if config.encoder else "source")
    provenance = {
        "space": config.output.space or anchors.target_space or "target",
        "source_space": source_space,
        "method": translator.method,
        "translator_options": dict(translator.options),
        "anchors_fingerprint": anchors.fingerprint,
        "job_fingerprint": fingerprint(snapshot),
        "package_version": __version__,
    }
    return run_shard_job(config, snapshot, provenance, translator)


def save_translator_next_to(output: OutputDir, translator: FittedTranslator) -> None:
    """Keep the fitted translator (and the ``auto`` CV table) in ``<output>/_translator/``, on any filesystem."""
    with tempfile.TemporaryDirectory() as local:
        translator.save(local)
        output.fs.put(f"{local}/", f"{output.root}/{TRANSLATOR_DIR}/", recursive=True)


def _cv_line(translator: FittedTranslator) -> str:
    auto = translator.report.get("auto")
    if not auto:
        return ""
    best = sorted((row for row in auto["cv"] if "centred_cosine" in row), key=lambda row: -row["centred_cosine"])[:3]
    shown = "; ".join(f"{row['method']} {row['centred_cosine']:.3f}" for row in best)
    return f" (chosen by {auto['folds']}-fold CV on the anchors; best centred cosines: {shown})"


def run_shard_job(
    config: EmbedConfig | TranslateConfig,
    snapshot: Mapping[str, Any],
    provenance: Mapping[str, Any],
    translator: FittedTranslator | None = None,
) -> Summary:
    """Plan shards, claim the output, start Ray, run the shards not yet written, then write the manifest."""
    from pipeline.execution import Progress, connect, run_shards

    source = config.source
    shards = plan_shards(source.path, source.format, source.files_per_shard, dict(source.storage_options))
    output = OutputDir(config.output.path, config.output.storage_options)
    claim_output(output, provenance["job_fingerprint"], config.output.overwrite)
    if translator is not None:
        save_translator_next_to(output, translator)
    job = ShardJob(source, config.output.path, config.output.storage_options, provenance, config.encoder,
                   translator, config.execution.batch_size)
    connect(config.execution)
    started = time.perf_counter()
    finished_before = output.finished_shards()
    todo = [shard for shard in shards if shard.name not in finished_before]
    progress = Progress(len(todo))
    results = []
    for result in run_shards(todo, lambda: ShardWorker(job), config.execution):
        progress.update(result)
        results.append(result)
    summary = summarise(output.url, shards, results, time.perf_counter() - started)
    write_manifest(output, shards, snapshot, provenance, summary)
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


def config_snapshot(config: Any) -> dict[str, Any]:
    """The config as JSON, without credentials (storage_options) and without settings that don't change output."""
    snapshot = dataclasses.asdict(config)
    for block in snapshot.values():
        if isinstance(block, dict):
            block.pop("storage_options", None)
    snapshot.get("output", {}).pop("overwrite", None)
    snapshot.pop("execution", None)  # how many actors ran it does not change the table
    return snapshot


def fingerprint(snapshot: Mapping[str, Any]) -> str:
    """sha256 of the snapshot and the package version: a changed config or code release is a different job."""
    return hashlib.sha256(json.dumps([snapshot, __version__], sort_keys=True, default=str).encode()).hexdigest()


def summarise(output: str, shards: list[Shard], results: list[ShardResult], seconds: float) -> Summary:
    stage_seconds: dict[str, float] = {}
    for result in results:
        for stage, spent in result.seconds.items():
            stage_seconds[stage] = stage_seconds.get(stage, 0.0) + spent
    return Summary(
        output=output,
        shards=len(shards),
        shards_skipped=len(shards) - len(results),
        rows_in=sum(r.rows_in for r in results),
        rows_out=sum(r.rows_out for r in results),
        rows_quarantined=sum(r.rows_quarantined for r in results),
        seconds=seconds,
        stage_seconds=stage_seconds,
        workers=tuple({json.dumps(r.worker, sort_keys=True): r.worker for r in results}.values()),
    )

