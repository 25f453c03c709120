"""Recall@k of queries against a published LanceDB table, through its index, the way a user's search runs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from pipeline.io.stores import StoreRef
from pipeline.io.stores.rows import sql_in_lists
from pipeline.io.tables import EMBEDDING_COLUMN, ID_COLUMN

NPROBES = 20  # IVF lists searched per query; with a PQ refine step, the index's answers match exact search closely
REFINE_FACTOR = 5


def indexed_recall(
    ref: StoreRef, queries: np.ndarray, expected: Sequence[Any], k: int = 10, among: Sequence[Any] | None = None
) -> float:
    """The share of queries whose expected row is among the ``k`` nearest (cosine) found by the table's index.

    Args:
        ref: a LanceDB table with an ``embedding`` column.
        queries: ``(q, d)`` query vectors in the table's space.
        expected: ``(q,)`` the id each query should find.
        among: search only these ids (a prefilter), so tables of different sizes are compared on the same rows.
    """
    import lancedb
    from lancedb.query import LanceVectorQueryBuilder

    table = lancedb.connect(ref.path).open_table(ref.table)
    where = None if among is None else " OR ".join(sql_in_lists(ID_COLUMN, list(among)))
    hits = 0
    for query, want in zip(queries, expected, strict=True):
        vector_search = table.search(query, vector_column_name=EMBEDDING_COLUMN)
        if not isinstance(vector_search, LanceVectorQueryBuilder):  # what a vector query gives
            raise TypeError(f"lancedb gave a {type(vector_search).__name__} for a vector query")
        search = (
            vector_search.distance_type("cosine")
            .limit(k)
            .nprobes(NPROBES)
            .refine_factor(REFINE_FACTOR)
            .select([ID_COLUMN, "_distance"])
        )
        if where is not None:
            search = search.where(where, prefilter=True)
        hits += want in search.to_arrow().column(ID_COLUMN).to_pylist()
    return hits / len(expected)
