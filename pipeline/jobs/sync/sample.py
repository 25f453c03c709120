"""Picking a fixed number of rows out of a store too large for one process: each id gets a rank from a hash of
its text, every partition offers its lowest ranks, and the run keeps the lowest overall.

The ranks spread the pick evenly over the corpus (not its first rows, nor one region of the id space), and are
the same in every process and on every night, so a rerun picks the same rows. Pure Python and NumPy, no IO.
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

Candidate = tuple[int, Any]  # (rank, id)


def id_ranks(ids: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """``(n,)`` uint64: a 64-bit BLAKE2b of each id's text; salted by nothing, so stable everywhere."""
    return np.fromiter(
        (
            int.from_bytes(hashlib.blake2b(str(value).encode(), digest_size=8).digest(), "big")
            for value in ids.to_pylist()
        ),
        dtype=np.uint64,
        count=len(ids),
    )


def lowest(ids: pa.Array | pa.ChunkedArray, k: int) -> list[Candidate]:
    """The ``k`` ids of lowest rank, as ``(rank, id)`` pairs, lowest first (a partition's offer)."""
    if k <= 0 or not len(ids):
        return []
    ranks = id_ranks(ids)
    order = np.argsort(ranks, kind="stable")[:k]
    values = ids.to_pylist()
    return [(int(ranks[i]), values[i]) for i in order]


def pick(offers: Iterable[Sequence[Candidate]], k: int) -> list[Any]:
    """The ``k`` ids of lowest rank among every partition's offer (each partition offered its own ``k``)."""
    return [value for _, value in heapq.nsmallest(k, (tuple(c) for offer in offers for c in offer))]
