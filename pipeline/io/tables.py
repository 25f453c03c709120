"""The embedding table contract: ``id`` plus ``embedding`` as ``fixed_size_list<float32>[d]`` (docs/reference/).

Writers always produce the fixed-size form with provenance in the Parquet key-value metadata. Readers also
accept ``list<float>`` (what most tools write) and Ray's tensor extension type (what Ray Data writes).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import pyarrow as pa

ID_COLUMN = "id"
EMBEDDING_COLUMN = "embedding"
METADATA_KEY = b"irp"  # one JSON document under one key keeps other tools' metadata untouched


def embedding_array(vectors: np.ndarray) -> pa.FixedSizeListArray:
    """``vectors: (n, d)`` float -> a ``fixed_size_list<float32>[d]`` array without copying row by row."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if vectors.ndim != 2:
        raise ValueError(f"embeddings must be (rows, dims); got shape {vectors.shape}")
    return pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1), type=pa.float32()), vectors.shape[1])


def embedding_table(ids: pa.Array | list, vectors: np.ndarray, provenance: Mapping[str, Any] | None = None) -> pa.Table:
    """Build an embedding table; ``provenance`` (space, method, fingerprint, ...) goes into the metadata.

    Args:
        ids: (n,) string or int64 ids.
        vectors: (n, d) float32.
        provenance: JSON-ready facts about how the vectors were made.
    """
    ids = ids if isinstance(ids, (pa.Array, pa.ChunkedArray)) else pa.array(ids)
    if len(ids) != len(vectors):
        raise ValueError(f"{len(ids)} ids but {len(vectors)} vectors")
    table = pa.table({ID_COLUMN: ids, EMBEDDING_COLUMN: embedding_array(vectors)})
    if provenance:
        dim = int(np.shape(vectors)[1])
        table = table.replace_schema_metadata({METADATA_KEY: json.dumps({**provenance, "dim": dim}).encode()})
    return table


def read_provenance(schema: pa.Schema) -> dict[str, Any]:
    """The provenance a writer stored in ``schema``'s metadata; empty for foreign tables."""
    raw = (schema.metadata or {}).get(METADATA_KEY)
    return json.loads(raw) if raw else {}


def vectors_of(column: pa.Array | pa.ChunkedArray, name: str = EMBEDDING_COLUMN) -> np.ndarray:
    """An embedding column as ``(n, d)`` float32, from any of the accepted Arrow layouts.

    Raises:
        ValueError: null rows, ragged list lengths, or a non-numeric column; the message says which.
    """
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    if isinstance(column.type, pa.ExtensionType):  # Ray's ArrowTensorType stores a fixed-size list underneath
        storage = column.storage
        return _flat_values(storage, name).reshape(len(column), -1)
    if column.null_count:
        raise ValueError(f"column {name!r} has {column.null_count} null row(s); quarantine or drop them first")
    if pa.types.is_fixed_size_list(column.type):
        return _flat_values(column, name).reshape(len(column), column.type.list_size)
    if pa.types.is_list(column.type) or pa.types.is_large_list(column.type):
        lengths = np.unique(column.value_lengths().to_numpy(zero_copy_only=False))
        if len(lengths) > 1:
            raise ValueError(f"column {name!r} holds vectors of different lengths {lengths.tolist()[:5]}")
        return _flat_values(column, name).reshape(len(column), int(lengths[0]) if len(lengths) else 0)
    raise ValueError(f"column {name!r} has type {column.type}; expected a list of floats per row")


def _flat_values(column: pa.Array, name: str) -> np.ndarray:
    values = column.flatten()
    if not (pa.types.is_floating(values.type) or pa.types.is_integer(values.type)):
        raise ValueError(f"column {name!r} holds {values.type}, not numbers")
    return values.to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
