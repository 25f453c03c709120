"""A night's encode and merge: the rows the scan listed (new, changed, and picked), encoded natively into the
run's folder; then, in the store's own space, upserted with the deletes as one new version."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from pipeline.config import OutputConfig
from pipeline.engine.driver import run_shard_job
from pipeline.io.folder import Folder
from pipeline.io.output import Output
from pipeline.io.stores import VectorStore
from pipeline.jobs.sync.config import SyncConfig
from pipeline.jobs.sync.stages import DELETE, ENCODE
from pipeline.provenance import fingerprint
from pipeline.version import __version__

ENCODED_DIR = "encoded"


@dataclasses.dataclass(frozen=True)
class Encoded:
    """Tonight's natively encoded rows.

    Attributes:
        rows: ``id``, ``embedding``, ``content_hash`` and the row facts; None when nothing was to encode.
        counts: ``encoded`` (new and changed rows), ``quarantined``, ``encoded_before`` (shards reused from a
            killed attempt), and of the picked rows, how many got a native vector (``picked``).
    """

    rows: pa.Table | None
    counts: Mapping[str, int]


def encode_listed(
    config: SyncConfig, records: Folder, facts: Mapping[str, str], picked: list[Any], seconds: dict[str, float]
) -> Encoded:
    """Encode the rows the diff lists (``encode``) into ``<run>/encoded``, resuming a killed attempt's parts."""
    started = time.perf_counter()
    listed = records.read_tables("diff", ["action"])
    if listed is None or not pc.sum(pc.equal(listed.column("action"), ENCODE)).as_py():
        return Encoded(None, {"encoded": 0, "quarantined": 0, "picked": 0})
    diff_digest = records.digest("diff")
    output = OutputConfig(f"{records.url}/{ENCODED_DIR}", overwrite=True)
    provenance = {
        "space": facts["space"],
        "job_fingerprint": fingerprint({"run": facts["run"], "diff": diff_digest}),
        "package_version": __version__,
    }
    planned = Output.of(output, provenance, {"run": facts["run"]}, content_hash=True, row_facts=facts)
    result = run_shard_job(config.source, config.encoder, config.execution, [planned], keep_ids=f"{records.url}/diff")
    seconds["encode"] = time.perf_counter() - started
    rows = records.read_tables(ENCODED_DIR)
    # Totals over every shard, whichever attempt encoded it: a rerun after a kill reuses the finished ones.
    totals = (planned.records.read_json("manifest.json") or {}).get("totals", {})
    encoded = totals.get("rows_out", result.rows_out)
    native_picked = (
        0
        if rows is None or not picked
        else pc.sum(pc.is_in(rows.column("id"), value_set=pa.array(picked, rows.schema.field("id").type))).as_py()
    )
    return Encoded(
        rows,
        {
            "encoded": encoded - native_picked,
            "picked": native_picked,
            "quarantined": totals.get("rows_quarantined", result.rows_quarantined),
            "encoded_before": result.shards_skipped,
        },
    )


def merge_night(
    store: VectorStore, records: Folder, upserts: pa.Table | None, seconds: dict[str, float]
) -> dict[str, Any]:
    """Tonight's upserts and deletes as one new version; nothing at all when nothing changed."""
    started = time.perf_counter()
    actions = records.read_tables("diff")
    deletes = (
        []
        if actions is None
        else pc.filter(actions.column("id"), pc.equal(actions.column("action"), DELETE)).to_pylist()
    )
    if (upserts is None or not upserts.num_rows) and not deletes:
        return {}
    if upserts is None:  # a night of deletes only: no rows, in the store's own layout
        upserts = store.read(ids=[])
    published = store.merge(upserts, deletes)
    seconds["publish"] = time.perf_counter() - started
    return published
