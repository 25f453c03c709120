"""A night's first steps: hash tonight's export and the store in tasks, diff each id partition in a task, and
pick the rows a model upgrade embeds as anchors, or a backfill re-encodes, from what the partitions offer."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from pipeline.engine.cluster import run_tasks
from pipeline.io.folder import Folder
from pipeline.io.shard import Shard
from pipeline.io.sources import plan_shards
from pipeline.io.stores import StoreRef, VectorStore
from pipeline.jobs.sync.config import SyncConfig
from pipeline.jobs.sync.sample import pick
from pipeline.jobs.sync.stages import ENCODE, diff_partition, hash_export_shard, hash_store_shard

DIFF_COUNTS = ("new", "changed", "unchanged", "deleted")


@dataclasses.dataclass(frozen=True)
class Scan:
    """Tonight against the store.

    Attributes:
        counts: new, changed, unchanged and deleted ids.
        picked: the unchanged ids picked (anchors, or rows to backfill), lowest id rank first.
        landed: store rows this run already wrote: its publish happened, whatever its records say.
    """

    counts: Mapping[str, int]
    picked: list[Any]
    landed: int


def scan(
    config: SyncConfig,
    ref: StoreRef,
    store: VectorStore,
    shards: list[Shard],
    records: Folder,
    run_name: str,
    wanted: int,
    origin: str,
    seconds: dict[str, float],
) -> Scan:
    """Hash, diff, and pick ``wanted`` unchanged rows of ``origin``; files go under the run's folder.

    The picked ids are written to ``diff/picked.parquet`` as rows to ``encode``, so the encode step reads them
    with tonight's new and changed rows.
    """
    started = time.perf_counter()
    for folder in ("export", "store", "diff", "translate"):  # a rerun scans again: the store may have moved since
        records.remove(folder)
    op_column = config.op_column if config.mode == "changes" else None
    run_tasks(
        hash_export_shard,
        [
            {
                "source": config.source,
                "shard": shard,
                "partitions": config.partitions,
                "run": records.url,
                "op_column": op_column,
            }
            for shard in shards
        ],
        config.execution,
    )
    facts = tuple(fact for fact in ("origin", "run") if fact in store_columns(store))
    stored = plan_shards(ref.path, ref.format, chunk_rows=config.execution.chunk_rows, store=ref)
    hashed = run_tasks(
        hash_store_shard,
        [
            {
                "store": ref,
                "shard": shard,
                "partitions": config.partitions,
                "run": records.url,
                "facts": facts,
                "run_name": run_name,
            }
            for shard in stored
        ],
        config.execution,
    )
    seconds["hash"] = time.perf_counter() - started
    landed = sum(part["landed"] for part in hashed)
    if landed:
        return Scan({}, [], landed)
    partials = run_tasks(
        diff_partition,
        [
            {"partition": p, "run": records.url, "full": config.mode == "full", "offer": wanted, "offer_origin": origin}
            for p in range(config.partitions)
        ],
        config.execution,
    )
    counts = {key: sum(partial[key] for partial in partials) for key in DIFF_COUNTS}
    picked = pick((partial["offer"] for partial in partials), wanted)
    if picked:
        records.write_table("diff/picked.parquet", pa.table({"id": picked, "action": [ENCODE] * len(picked)}))
    seconds["diff"] = time.perf_counter() - started - seconds["hash"]
    return Scan(counts, picked, 0)


def store_columns(store: VectorStore) -> list[str]:
    """The live table's columns (its row facts among them, when a nightly run made it)."""
    return store.read(ids=[]).column_names


def translated_share(store: VectorStore) -> float | None:
    """The share of the store's rows whose vector is a translation; None when the rows do not say."""
    if "origin" not in store_columns(store):
        return None
    origins = store.read(columns=["origin"]).column("origin")
    return float((origins.to_numpy(zero_copy_only=False) == "translated").mean()) if len(origins) else 0.0
