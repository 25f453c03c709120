"""Ids spread over a fixed number of partitions, so that no process ever holds every id of a large table.

A partition is chosen from a CRC-32 of the id's text, the same in every process and on every night (Python's own
``hash`` of a string is salted per process). The duplicate-id pass and a nightly sync's diff both file rows by
partition in tasks, then work on one partition per task.
"""

from __future__ import annotations

import zlib

import numpy as np
import pyarrow as pa

from pipeline.io.folder import Folder


def partition_of(ids: pa.Array | pa.ChunkedArray, partitions: int) -> np.ndarray:
    """``(n,)`` int64: the partition of each id, from a CRC-32 of its text (stable across processes and nights)."""
    return np.fromiter(
        (zlib.crc32(str(value).encode()) % partitions for value in ids.to_pylist()), dtype=np.int64, count=len(ids)
    )


def partition_name(partition: int) -> str:
    return f"p={partition:04d}"


def file_by_partition(rows: pa.Table, partitions: int, folder: Folder, kind: str, shard: str) -> None:
    """Write ``rows`` as one file per id partition present: ``<kind>/p=NNNN/<shard>.parquet``."""
    parts = partition_of(rows.column("id"), partitions)
    for partition in np.unique(parts):
        folder.write_table(
            f"{kind}/{partition_name(int(partition))}/{shard}.parquet", rows.filter(pa.array(parts == partition))
        )
