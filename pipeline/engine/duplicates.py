"""Ids repeated across a job's shards: found before any shard runs, so each id is written once, at its first
occurrence in shard order, and every later occurrence goes to the quarantine saying where the first one is.

Two plain functions tasks run (``ray_pool.map_tasks``), on the same partitioned pattern as the nightly diff, so no
process holds every id of a large source:

1. :func:`file_ids`: one task per shard reads only the id column and files ``(id as text, shard order, row)`` by
   a CRC-32 partition of the id: ``<folder>/ids/p=NNNN/<shard>.parquet``;
2. :func:`find_repeats`: one task per partition keeps each id's first occurrence and lists the others in
   ``<folder>/repeats/p=NNNN.parquet`` as ``(shard, row, id, first)``.

``<folder>`` is the scratch folder of the run (``<records>/work/repeats``, :mod:`pipeline.io.records`), cleared
before the pass and removed when the job ends.

The prepare stage then looks its own shard up (:func:`repeated_rows`). The row numbers are those of the shard as
the prepare stage reads it, id column first; a within-shard repeat is found both here and by
``quarantine.id_problems``, with the same row kept.
"""

from __future__ import annotations

import functools

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.config import SourceConfig
from pipeline.engine.partitions import file_by_partition, partition_name
from pipeline.engine.quarantine import readable_ids
from pipeline.io.folder import Folder
from pipeline.io.retry import with_retries
from pipeline.io.shard import Shard
from pipeline.io.sources import read_source

IDS, REPEATS = "ids", "repeats"


def file_ids(source: SourceConfig, shard: Shard, order: int, partitions: int, records: str) -> dict[str, int]:
    """File one shard's ids by partition, with the shard's place in the job and each id's row."""
    try:
        table = with_retries(lambda: read_source(source, shard, [source.id_column]))
    except Exception:  # an unreadable input: the prepare stage fails its shard, naming the reason
        return {"rows": 0}
    if source.id_column not in table.column_names:
        return {"rows": 0}  # the prepare stage fails this shard, naming the missing column
    ids, _ = readable_ids(table.column(source.id_column).combine_chunks())  # the prepare stage sets those aside
    rows = pa.table(
        {
            "id": pc.cast(ids, pa.string()),
            "order": pa.array(np.full(len(ids), order, np.int64)),
            "shard": pa.array([shard.name] * len(ids), pa.string()),
            "row": pa.array(np.arange(len(ids), dtype=np.int64)),
        }
    ).filter(pc.is_valid(ids))
    file_by_partition(rows, partitions, Folder(records), IDS, shard.name)
    return {"rows": rows.num_rows}


def find_repeats(partition: int, records: str) -> dict[str, int]:
    """Every occurrence of an id after its first (by shard order, then row) in one partition."""
    folder = Folder(records)
    name = partition_name(partition)
    rows = folder.read_tables(f"{IDS}/{name}")
    if rows is None:
        return {"repeats": 0}
    rows = rows.sort_by([("id", "ascending"), ("order", "ascending"), ("row", "ascending")])
    ids = rows.column("id").to_pylist()
    later = np.array([i > 0 and ids[i] == ids[i - 1] for i in range(len(ids))], dtype=bool)
    first_of = np.maximum.accumulate(np.where(~later, np.arange(len(ids)), 0))  # index of each id's first row
    repeats = (
        rows.filter(pa.array(later))
        .select(["shard", "row", "id"])
        .append_column("first", rows.column("shard").take(pa.array(first_of[later])))
    )
    folder.write_table(f"{REPEATS}/{name}.parquet", repeats)
    return {"repeats": repeats.num_rows}


@functools.lru_cache(maxsize=4)
def _all_repeats(records: str) -> pa.Table | None:
    return Folder(records).read_tables(REPEATS)


def repeated_rows(records: str, shard: str) -> dict[int, str]:
    """``{row: reason}`` of the rows of ``shard`` whose id appeared first in an earlier row or shard."""
    repeats = _all_repeats(records)
    if repeats is None:
        return {}
    mine = repeats.filter(pc.equal(repeats.column("shard"), shard)).to_pylist()
    return {row["row"]: f"duplicate id {row['id']!r} (first occurrence kept, in {row['first']})" for row in mine}
