"""The nightly run's tasks around the encoding, each a plain function one task runs: hash tonight's rows, read
the store's hashes, diff one id partition, list the rows a model upgrade translates, and stage natively encoded
rows in the store. No Ray here (the engine runs them, :func:`pipeline.engine.cluster.run_tasks`); no row crosses
the driver.

They write under the run's scratch folder (``<store records>/runs/<run>/``), each file atomically:
``export/p=NNNN/<shard>.parquet`` (id, hash, delete flag), ``store/p=NNNN/<shard>.parquet`` (id, hash, and the
row facts ``origin`` and ``run`` when the store has them), ``diff/p=NNNN.parquet`` (id, action ``encode`` or
``delete``) and ``translate/p=NNNN.parquet`` (id). A rerun rewrites them with the same content.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.config import SourceConfig
from pipeline.engine.partitions import file_by_partition, partition_name
from pipeline.io.folder import Folder
from pipeline.io.output import Output
from pipeline.io.shard import Shard
from pipeline.io.sources import read_shard, read_source
from pipeline.io.stores import CONTENT_HASH_COLUMN, StoreRef, content_hashes
from pipeline.jobs.sync.diff import diff
from pipeline.jobs.sync.sample import lowest

ENCODE, DELETE = "encode", "delete"


def hash_export_shard(
    source: SourceConfig, shard: Shard, partitions: int, run: str, op_column: str | None
) -> dict[str, int]:
    """Hash the content of one export shard and file its ``(id, content_hash, delete)`` rows by id partition.

    Args:
        op_column: in a changes export, the column whose ``delete`` marks a row to delete; None for a full one.
    """
    content_column = source.content_column
    if content_column is None:  # a checked config names exactly one content column
        raise ValueError("the source names no content column (text_column, image_column or vector_column)")
    columns = [source.id_column, content_column, *([op_column] if op_column else [])]
    table = read_source(source, shard, columns)
    marked = (
        pc.fill_null(pc.equal(table.column(op_column), "delete"), False)
        if op_column
        else pa.array(np.zeros(table.num_rows, bool))
    )
    rows = pa.table(
        {
            "id": table.column(source.id_column),
            CONTENT_HASH_COLUMN: content_hashes(table.column(content_column)),
            "delete": marked,
        }
    )
    file_by_partition(rows, partitions, Folder(run), "export", shard.name)
    return {"rows": rows.num_rows}


def hash_store_shard(
    store: StoreRef, shard: Shard, partitions: int, run: str, facts: tuple[str, ...], run_name: str
) -> dict[str, int]:
    """File one store shard's ``(id, content_hash, *facts)`` rows by id partition.

    Args:
        facts: the row facts the store has, of ``origin`` and ``run``.
        run_name: this run; rows it wrote (``run`` equal to it) are counted as ``landed``: a run whose changes
            are already in the store was published, even if its record of that was lost.
    """
    table = read_shard(shard, store.format, ["id", CONTENT_HASH_COLUMN, *facts], dict(store.storage_options), store)
    file_by_partition(table, partitions, Folder(run), "store", shard.name)
    landed = pc.sum(pc.equal(table.column("run"), run_name)).as_py() if "run" in facts else 0
    return {"rows": table.num_rows, "landed": landed or 0}


def diff_partition(
    partition: int, run: str, full: bool, offer: int = 0, offer_origin: str | None = None
) -> dict[str, object]:
    """Diff one partition of tonight's export against the store's; write the ids to encode and to delete.

    Args:
        offer: how many unchanged rows to offer for a pick (:mod:`pipeline.jobs.sync.sample`): a model upgrade's
            anchors, or a backfill's translated rows.
        offer_origin: offer only rows of this ``origin`` (``native`` anchors, ``translated`` rows to backfill).

    Returns:
        The diff's counts, and ``offer``: the partition's ``(rank, id)`` candidates.
    """
    folder = Folder(run)
    name = partition_name(partition)
    export, store = folder.read_tables(f"export/{name}"), folder.read_tables(f"store/{name}")
    id_type = next((t.schema.field("id").type for t in (export, store) if t is not None), pa.string())
    export = export if export is not None else _empty(id_type, "delete")
    store = store if store is not None else _empty(id_type)
    upserts = export.filter(pc.invert(export.column("delete")))
    found = diff(upserts, store, full, export.filter(export.column("delete")).column("id").combine_chunks())
    to_encode = pa.concat_arrays([found.new, found.changed]).sort()
    actions = pa.table(
        {
            "id": pa.concat_arrays([to_encode, found.deleted]),
            "action": [ENCODE] * len(to_encode) + [DELETE] * len(found.deleted),
        }
    )
    folder.write_table(f"diff/{name}.parquet", actions)
    kept = store.filter(pc.is_in(store.column("id"), value_set=found.unchanged))
    origin = kept.column("origin") if "origin" in kept.column_names else pa.nulls(kept.num_rows, pa.string())
    offered = (
        kept.column("id")
        if offer_origin is None
        else kept.filter(pc.fill_null(pc.equal(origin, offer_origin), offer_origin == "native")).column("id")
    )
    return {**found.counts(), "offer": lowest(offered, offer)}


def list_translations(partition: int, run: str, encoded: str) -> dict[str, int]:
    """List the store rows of one partition a model upgrade translates: every row the night keeps (not deleted)
    that has no native vector from tonight's encode (``encoded``, its ids). A changed row whose new content was
    quarantined keeps its old vector this way, translated, rather than vanish."""
    folder = Folder(run)
    name = partition_name(partition)
    store, actions = folder.read_tables(f"store/{name}", ["id"]), folder.read_table(f"diff/{name}.parquet")
    if store is None:
        return {"rows": 0}
    id_type = store.schema.field("id").type
    native = Folder(encoded).read_tables("", ["id"])
    gone = [] if actions is None else [pc.filter(actions.column("id"), pc.equal(actions.column("action"), DELETE))]
    gone += [] if native is None else [native.column("id").cast(id_type)]
    value_set = pa.chunked_array([chunk for ids in gone for chunk in ids.chunks], id_type).combine_chunks()
    ids = store.filter(pc.invert(pc.is_in(store.column("id"), value_set=value_set)))
    folder.write_table(f"translate/{name}.parquet", ids)
    return {"rows": ids.num_rows}


def stage_native_part(encoded: str, part: str, natives: Output) -> dict[str, int]:
    """Stage one part of tonight's natively encoded rows (the table ``encoded``) in the store, next to the
    translated ones, under the upgrade's staging id, as ``part-native-<n>`` of ``natives``, so both publish
    together."""
    table = Folder(encoded).read_table(f"{part}.parquet")
    assert table is not None  # the caller lists the parts the encoded table has
    name = f"part-native-{part.removeprefix('part-')}"
    natives.stage(name, table, None, {"rows_out": table.num_rows})
    return {"rows": table.num_rows}


def _empty(id_type: pa.DataType, *flags: str) -> pa.Table:
    """No rows, in the layout of the partition files (a partition one side does not have)."""
    return pa.table(
        {
            "id": pa.array([], id_type),
            CONTENT_HASH_COLUMN: pa.array([], pa.string()),
            **{flag: pa.array([], pa.bool_()) for flag in flags},
        }
    )
