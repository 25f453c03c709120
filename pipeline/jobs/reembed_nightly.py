"""The ``reembed_nightly`` job (``irp sync``): keep a store in step with tonight's export, encoding only what changed.

A night, as one run named by what it reads (tonight's export shards, the encoder, the mode, the store):

1. hash tonight's rows and read the store's hashes, in tasks, filed by id partition (no row on the driver);
2. diff each partition in a task: new, changed, unchanged and deleted ids;
3. encode the new and changed rows only (the ``embed`` machinery, with their ids as a filter), into the run's
   folder, with their content hashes and row facts (``space``, ``origin`` = native, ``run``);
4. publish them and the deletes as ONE new version of the store (``VectorStore.merge``).

The first night (no table yet) embeds every row and publishes the table through the stores' atomic publish, index
built first. A run killed at any point leaves the last published version; its rerun reuses what it encoded (the
parts of step 3 resume) and publishes once: the run's manifest records the publish, and a rerun after a publish
whose record was lost diffs against the new version and finds nothing left to do.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Callable, Mapping
from typing import Any

import fsspec

from pipeline.config import OutputConfig, SyncConfig
from pipeline.engine.driver import PlannedOutput, run_shard_job
from pipeline.engine.sync_stages import diff_partition, hash_export_shard, hash_store_shard
from pipeline.io.sink import OutputDir
from pipeline.io.sources import plan_shards
from pipeline.io.stores import StoreRef, VectorStore, open_store
from pipeline.provenance import config_snapshot, fingerprint, space_id
from pipeline.version import __version__

RUNS_DIR = "_runs"
COUNTS = ("new", "changed", "unchanged", "deleted", "encoded", "quarantined", "encoded_before")


@dataclasses.dataclass(frozen=True)
class SyncSummary:
    """What a night did: counts, the published version, seconds per stage."""

    run: str
    store: str
    counts: Mapping[str, int]
    published: Mapping[str, Any]
    seconds: Mapping[str, float]
    already_done: bool = False

    def lines(self) -> list[str]:
        counts = ", ".join(f"{key} {self.counts.get(key, 0)}" for key in COUNTS)
        stages = ", ".join(f"{stage} {seconds:.1f} s" for stage, seconds in self.seconds.items())
        return [
            f"store:       {self.store}",
            f"run:         {self.run}" + (" (already published: nothing to do)" if self.already_done else ""),
            f"rows:        {counts}",
            f"published:   {json.dumps(dict(self.published), sort_keys=True) if self.published else 'nothing new'}",
            f"time:        {stages}",
        ]


def run(config: SyncConfig, say: Callable[[str], None] = print) -> list[str]:
    """Run one night; returns its summary lines (also written to ``config.report`` as JSON when given)."""
    summary = run_sync(config, say)
    if config.report:
        with fsspec.open(config.report, "w") as f:
            json.dump(dataclasses.asdict(summary), f, indent=2, sort_keys=True)
    return summary.lines()


def main(argv: list[str] | None = None) -> int:
    from pipeline.jobs.entry import run_configured_job

    return run_configured_job(argv, "reembed_nightly", __doc__.splitlines()[0], SyncConfig, run)


def run_sync(config: SyncConfig, say: Callable[[str], None] = print) -> SyncSummary:
    """One night: diff, encode what changed, publish one version (see the module docstring)."""
    from pipeline.engine.ray_pool import connect

    ref = config.store.store
    store = open_store(ref)
    shards = plan_shards(config.source.path, config.source.format, config.source.files_per_shard,
                         dict(config.source.storage_options), config.execution.chunk_bytes,
                         config.execution.chunk_rows, config.source.store)
    space = space_id(config.encoder.kind, config.encoder.options)
    run_name = run_id(config, [shard.key for shard in shards])
    records = OutputDir(f"{config.store.records.rstrip('/')}/{RUNS_DIR}/{run_name}")
    previous = records.read_manifest()
    if previous and previous.get("published") is not None:
        return SyncSummary(run_name, ref.describe(), previous["counts"], previous["published"], {}, True)
    require_same_space(store, space)
    connect(config.execution, say)
    facts = {"space": space, "origin": "native", "run": run_name}
    if store.exists():
        summary = _incremental(config, ref, store, shards, run_name, records, facts, say)
    else:
        summary = _first_night(config, run_name, facts, say)
    records.write_manifest({"run": run_name, "counts": dict(summary.counts), "published": dict(summary.published),
                            "seconds": dict(summary.seconds), "config": config_snapshot(config)})
    return summary


def run_id(config: SyncConfig, shard_keys: list[str]) -> str:
    """Names a night by what it reads: the export's shards (files and their stamps), the encoder, the mode and the
    store; the same export run twice is the same run."""
    snapshot = config_snapshot(config)
    what = {"shards": hashlib.sha256(json.dumps(shard_keys).encode()).hexdigest(), "encoder": snapshot["encoder"],
            "mode": config.mode, "partitions": config.partitions, "store": config.store.store.describe()}
    return fingerprint(what)[:16]


def require_same_space(store: VectorStore, space: str) -> None:
    """Refuse to mix spaces: a store made by another model needs a model upgrade, which this run cannot do yet.

    Raises:
        ValueError: the store's vectors are in another space.
    """
    stored = store.provenance().get("space") if store.exists() else None
    if stored is not None and stored != space:
        raise ValueError(f"{store.ref.describe()} holds vectors of {stored}, not {space}: a model upgrade (translate "
                         "the store, then backfill natively) is not built yet; the store was left as it is")


def _first_night(config: SyncConfig, run_name: str, facts: Mapping[str, str],
                 say: Callable[[str], None]) -> SyncSummary:
    """No table yet: embed every row into the store, published whole with its index."""
    started = time.perf_counter()
    provenance = {"space": facts["space"], "encoder": {"kind": config.encoder.kind, **config.encoder.options},
                  "job_fingerprint": run_name, "package_version": __version__}
    planned = PlannedOutput(config.store, config_snapshot(config), provenance, row_facts=facts)
    say(f"{config.store.store.describe()}: no table yet; embedding every row of the export")
    result = run_shard_job(config.source, config.encoder, config.execution, [planned])
    manifest = planned.open().read_manifest() or {}
    counts = {"new": result.rows_out + result.rows_quarantined, "encoded": result.rows_out,
              "quarantined": result.rows_quarantined}
    return SyncSummary(run_name, config.store.store.describe(), counts, manifest.get("published", {}),
                       {"embed and publish": time.perf_counter() - started})


def _incremental(config: SyncConfig, ref: StoreRef, store: VectorStore, shards: list, run_name: str,
                 records: OutputDir, facts: Mapping[str, str], say: Callable[[str], None]) -> SyncSummary:
    """Diff tonight against the store, encode the new and changed rows, publish them and the deletes at once."""
    from pipeline.engine.ray_pool import map_tasks

    seconds: dict[str, float] = {}
    started = time.perf_counter()
    for folder in ("export", "store", "diff"):  # a rerun diffs again: the store may have moved since
        path = f"{records.root}/{folder}"
        if records.fs.exists(path):
            records.fs.rm(path, recursive=True)
    op_column = config.op_column if config.mode == "changes" else None
    map_tasks(hash_export_shard, [{"source": config.source, "shard": shard, "partitions": config.partitions,
                                   "run": records.url, "op_column": op_column} for shard in shards], config.execution)
    stored = plan_shards(ref.path, ref.format, chunk_rows=config.execution.chunk_rows, store=ref)
    map_tasks(hash_store_shard, [{"store": ref, "shard": shard, "partitions": config.partitions, "run": records.url}
                                 for shard in stored], config.execution)
    seconds["hash"] = time.perf_counter() - started
    partials = map_tasks(diff_partition, [{"partition": p, "run": records.url, "full": config.mode == "full"}
                                          for p in range(config.partitions)], config.execution)
    counts = {key: sum(partial[key] for partial in partials) for key in ("new", "changed", "unchanged", "deleted")}
    seconds["diff"] = time.perf_counter() - started - seconds["hash"]
    say(f"{ref.describe()}: " + ", ".join(f"{key} {value}" for key, value in counts.items()))
    upserts, counts = _encode_changes(config, records, facts, counts, seconds)
    published = _publish(store, records, upserts, seconds)
    return SyncSummary(run_name, ref.describe(), counts, published, seconds)


def _encode_changes(config: SyncConfig, records: OutputDir, facts: Mapping[str, str], counts: dict[str, int],
                    seconds: dict[str, float]) -> tuple[Any, dict[str, int]]:
    """Encode the rows the diff listed (``encode``) into ``<run>/encoded``; returns them and the counts."""
    started = time.perf_counter()
    if not counts["new"] + counts["changed"]:
        return None, {**counts, "encoded": 0, "quarantined": 0}
    diff_digest = hashlib.sha256(b"".join(records.fs.cat_file(path) for path in sorted(
        records.fs.glob(f"{records.root}/diff/*.parquet")))).hexdigest()
    output = OutputConfig(f"{records.url}/encoded", overwrite=True)
    provenance = {"space": facts["space"], "job_fingerprint": fingerprint({"run": facts["run"], "diff": diff_digest}),
                  "package_version": __version__}
    planned = PlannedOutput(output, {"run": facts["run"]}, provenance, content_hash=True, row_facts=facts)
    result = run_shard_job(config.source, config.encoder, config.execution, [planned], keep_ids=f"{records.url}/diff")
    seconds["encode"] = time.perf_counter() - started
    # Totals over every shard, whichever attempt encoded it: a rerun after a kill reuses the finished ones.
    totals = (planned.open().read_manifest() or {}).get("totals", {})
    return records.read_tables("encoded"), {**counts, "encoded": totals.get("rows_out", result.rows_out),
                                            "quarantined": totals.get("rows_quarantined", result.rows_quarantined),
                                            "encoded_before": result.shards_skipped}


def _publish(store: VectorStore, records: OutputDir, upserts: Any, seconds: dict[str, float]) -> dict[str, Any]:
    """Tonight's upserts and deletes as one new version; nothing at all when nothing changed."""
    import pyarrow.compute as pc

    started = time.perf_counter()
    actions = records.read_tables("diff")
    deletes = [] if actions is None else pc.filter(actions.column("id"), pc.equal(actions.column("action"),
                                                                                  "delete")).to_pylist()
    if (upserts is None or not upserts.num_rows) and not deletes:
        return {}
    if upserts is None:  # a night of deletes only: no rows, in the store's own layout
        upserts = store.read(ids=[])
    published = store.merge(upserts, deletes)
    seconds["publish"] = time.perf_counter() - started
    return published
