"""The ``sync`` job (``irp sync``): keep a store in step with tonight's export, encoding only what changed.

A night, as one run named by what it reads (tonight's export shards, the encoder, the mode, the store):

1. hash tonight's rows and read the store's hashes, in tasks, filed by id partition (no row on the driver);
2. diff each partition in a task: new, changed, unchanged and deleted ids;
3. encode the new and changed rows only (the ``embed`` machinery, with their ids as a filter), into the run's
   folder, with their content hashes and row facts (``space``, ``origin`` = native, ``run``), plus up to
   ``backfill.rows_per_run`` unchanged rows whose vector is still a translation;
4. publish them and the deletes as ONE new version of the store (``VectorStore.merge``).

The first night (no table yet) embeds every row and publishes the table through the stores' atomic publish, index
built first. When the encoder is not the model the store was made by, and the config has an ``upgrade`` block,
the night is a model upgrade (:mod:`pipeline.jobs.sync.upgrade`): anchors picked in step 3, the whole store
translated and published in the new space as one version.

A night works in a scratch folder of its own, ``<store records>/runs/<run>/``, removed once the night has published;
what it did is kept as ``runs/<run>.json``. A run killed at any point leaves the last published version; its rerun
reuses what it encoded (the parts of step 3 resume) and publishes once. Whether a run was published is read from the
store itself, not from the run's records: a run whose rows (``run`` = its name) are in the store does nothing more,
so a record lost after a publish never makes a second one, and a night rolled back (the store restored to an older
version) is redone.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Callable, Mapping

import fsspec

from pipeline.engine.cluster import start
from pipeline.engine.driver import run_shard_job
from pipeline.io.folder import Folder
from pipeline.io.output import Output
from pipeline.io.sources import plan_source
from pipeline.io.stores import VectorStore, open_store
from pipeline.io.stores.layout import output_store, records_of
from pipeline.jobs.sync.changes import encode_listed, merge_night
from pipeline.jobs.sync.config import SyncConfig
from pipeline.jobs.sync.scan import scan, translated_share
from pipeline.jobs.sync.summary import SyncSummary
from pipeline.jobs.sync.upgrade import upgrade_store
from pipeline.provenance import config_snapshot, fingerprint, space_id
from pipeline.version import __version__

RUNS_DIR = "runs"


def run(config: SyncConfig, say: Callable[[str], None] = print) -> list[str]:
    """Run one night; returns its summary lines (also written to ``config.report`` as JSON when given)."""
    summary = run_sync(config, say)
    if config.report:
        with fsspec.open(config.report, "w") as f:
            json.dump(dataclasses.asdict(summary), f, indent=2, sort_keys=True)
    return summary.lines()


def main(argv: list[str] | None = None) -> int:
    from pipeline.jobs.entry import run_configured_job

    return run_configured_job(argv, "sync", __doc__.splitlines()[0], SyncConfig, run)


def run_sync(config: SyncConfig, say: Callable[[str], None] = print) -> SyncSummary:
    """One night: diff, encode what changed, publish one version (see the module docstring)."""
    ref = output_store(config.store)
    store = open_store(ref)
    shards = plan_source(config.source, config.execution.chunk_bytes, config.execution.chunk_rows)
    space = space_id(config.encoder.kind, config.encoder.options)
    run_name = run_id(config, [shard.key for shard in shards])
    runs = Folder(f"{records_of(config.store).rstrip('/')}/{RUNS_DIR}", config.store.storage_options)
    records = runs.sub(run_name)
    records.remove_temporaries()  # files a killed attempt of this run left half-written
    stored_space = store.provenance().get("space") if store.exists() else None
    upgrading = stored_space is not None and stored_space != space
    if upgrading and config.upgrade is None:
        raise ValueError(
            f"{ref.describe()} holds vectors of {stored_space}, not {space}. To move the store to the "
            "new model, add an upgrade block (upgrade: {anchors: 1000}): the run translates every row "
            "into the new space, and backfill.rows_per_run re-encodes them natively over the next "
            "nights. The store was left as it is"
        )
    start(config.execution, say)
    facts = {"space": space, "origin": "native", "run": run_name}
    if store.exists():
        summary = _night(config, store, shards, run_name, records, facts, stored_space if upgrading else None, say)
    else:
        summary = _first_night(config, run_name, facts, say)
    runs.write_json(
        f"{run_name}.json",
        {
            "run": run_name,
            "counts": dict(summary.counts),
            "published": dict(summary.published),
            "seconds": dict(summary.seconds),
            "share_translated": summary.share_translated,
            "translator": dict(summary.translator),
            "config": config_snapshot(config),
        },
    )
    records.remove()  # the night is published: its scratch has done its work
    return summary


def run_id(config: SyncConfig, shard_keys: list[str]) -> str:
    """Names a night by what it reads: the export's shards (files and their stamps), the encoder, the mode and the
    store; the same export run twice is the same run."""
    snapshot = config_snapshot(config)
    what = {
        "shards": hashlib.sha256(json.dumps(shard_keys).encode()).hexdigest(),
        "encoder": snapshot["encoder"],
        "mode": config.mode,
        "partitions": config.partitions,
        "store": output_store(config.store).describe(),
    }
    return fingerprint(what)[:16]


def _first_night(
    config: SyncConfig, run_name: str, facts: Mapping[str, str], say: Callable[[str], None]
) -> SyncSummary:
    """No table yet: embed every row into the store, published whole with its index."""
    started = time.perf_counter()
    provenance = {
        "space": facts["space"],
        "encoder": {"kind": config.encoder.kind, **config.encoder.options},
        "job_fingerprint": run_name,
        "package_version": __version__,
    }
    planned = Output.of(config.store, provenance, config_snapshot(config), content_hash=True, row_facts=facts)
    say(f"{planned.describe()}: no table yet; embedding every row of the export")
    result = run_shard_job(config.source, config.encoder, config.execution, [planned])
    manifest = planned.records.read_json("manifest.json") or {}
    counts = {
        "new": result.rows_out + result.rows_quarantined,
        "encoded": result.rows_out,
        "quarantined": result.rows_quarantined,
    }
    return SyncSummary(
        run_name,
        planned.describe(),
        counts,
        manifest.get("published", {}),
        {"embed and publish": time.perf_counter() - started},
        share_translated=0.0,
    )


def _night(
    config: SyncConfig,
    store: VectorStore,
    shards: list,
    run_name: str,
    records: Folder,
    facts: Mapping[str, str],
    upgrade_from: str | None,
    say: Callable[[str], None],
) -> SyncSummary:
    """Diff tonight against the store, encode the new and changed rows (and the picked ones), then merge them
    with the deletes, or, upgrading from another model's space, translate and publish the whole store."""
    ref = store.ref
    seconds: dict[str, float] = {}
    wanted = config.upgrade.anchors if upgrade_from and config.upgrade else config.backfill.rows_per_run
    found = scan(
        config, ref, store, shards, records, run_name, wanted, "native" if upgrade_from else "translated", seconds
    )
    if found.landed:  # this run's rows are in the store: an earlier attempt (or the same export) published it
        say(f"{ref.describe()}: {found.landed} rows of run {run_name} are already published; nothing more to do")
        return SyncSummary(
            run_name, ref.describe(), {}, {"found_in_store": True}, seconds, True, translated_share(store)
        )
    say(
        f"{ref.describe()}: "
        + ", ".join(f"{key} {value}" for key, value in found.counts.items())
        + (
            f"; {len(found.picked)} {'anchors' if upgrade_from else 'translated rows to backfill'}"
            if found.picked
            else ""
        )
    )
    encoded = encode_listed(config, records, facts, found.picked, seconds)
    counts = {**found.counts, **encoded.counts}
    picked = counts.pop("picked")
    if upgrade_from:
        upgrade = upgrade_store(config, store, records, facts, upgrade_from, found.picked, encoded.rows, seconds, say)
        counts.update(anchors=picked, translated=upgrade.translated)
        published, translator = dict(upgrade.published), dict(upgrade.translator)
    else:
        counts["backfilled"] = picked
        published, translator = merge_night(store, records, encoded.rows, seconds), {}
    return SyncSummary(run_name, ref.describe(), counts, published, seconds, False, translated_share(store), translator)
