"""Anchor sets: read anchor embedding tables, pair two spaces' anchors on ``id``, take them from a corpus.

Anchor tables are small (hundreds to thousands of rows), so they are read whole on the driver; the pairing is
what every translator is fitted on, and its fingerprint names the fit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from pipeline.io.sources import resolve_path
from pipeline.io.stores import StoreRef, open_store
from pipeline.io.tables import EMBEDDING_COLUMN, ID_COLUMN, read_provenance, vectors_of
from pipeline.translate import fingerprint_arrays


@dataclass(frozen=True)
class PairedAnchors:
    """The same anchor items in two spaces, rows aligned.

    Attributes:
        ids: (k,) the shared ids, sorted.
        source: (k, d_s) float32.
        target: (k, d_t) float32.
        unmatched: how many ids only one side had (reported, not fatal).
        source_space, target_space: space names from the tables' provenance, when they carry one.
    """

    ids: list[Any]
    source: np.ndarray
    target: np.ndarray
    unmatched: int
    source_space: str | None = None
    target_space: str | None = None

    @property
    def fingerprint(self) -> str:
        """sha256 over the aligned vectors of both sides (see translate.fingerprint_arrays)."""
        return fingerprint_arrays(self.source, self.target)

    def extended(self, more: PairedAnchors) -> PairedAnchors:
        """These pairs, then ``more`` (say, the anchor items' paragraphs); the space names stay these."""
        return PairedAnchors(
            [*self.ids, *more.ids],
            np.concatenate([self.source, more.source]),
            np.concatenate([self.target, more.target]),
            self.unmatched + more.unmatched,
            self.source_space,
            self.target_space,
        )


def read_embeddings(
    url: str,
    storage_options: Mapping[str, Any] | None = None,
    id_column: str = ID_COLUMN,
    vector_column: str = EMBEDDING_COLUMN,
    ids: list[Any] | None = None,
    store: StoreRef | None = None,
) -> tuple[list[Any], np.ndarray, dict[str, Any]]:
    """Read an embedding table: a Parquet file or a directory of parts (an ``embed`` output).

    Args:
        url: fsspec URL or ``pkg://`` path.
        storage_options: fsspec options.
        id_column, vector_column: column names (the table contract's by default).
        ids: keep only these ids (pushed down to the scan, for taking anchors out of a large corpus).
        store: read this store table instead of ``url``.

    Returns:
        (ids, (n, d) float32 vectors, provenance from the Parquet metadata).
    """
    if store is not None:
        handle = open_store(store)
        table = handle.read([id_column, vector_column], ids=ids)
        return table.column(id_column).to_pylist(), vectors_of(table.column(vector_column)), handle.provenance()
    fs, path = fsspec.core.url_to_fs(resolve_path(url), **dict(storage_options or {}))
    # Names starting with "_" or "." (quarantine, manifest, temporaries) are skipped by the dataset reader.
    dataset = ds.dataset(path, format="parquet", filesystem=fs, ignore_prefixes=[".", "_"])
    row_filter = pc.field(id_column).isin(pa.array(ids)) if ids is not None else None
    table = dataset.to_table(columns=[id_column, vector_column], filter=row_filter)
    return table.column(id_column).to_pylist(), vectors_of(table.column(vector_column)), read_provenance(dataset.schema)


def pair_on_id(
    source_ids: list[Any], source: np.ndarray, target_ids: list[Any], target: np.ndarray
) -> tuple[list[Any], np.ndarray, np.ndarray, int]:
    """Align two anchor tables on their shared ids, sorted for a deterministic order.

    Raises:
        ValueError: an id repeats within a table, or fewer than 3 ids are shared.
    """
    problems = [
        f"{side} anchor table repeats ids"
        for side, ids in (("source", source_ids), ("target", target_ids))
        if len(set(ids)) != len(ids)
    ]
    shared = sorted(set(source_ids) & set(target_ids), key=lambda value: (str(type(value)), value))
    if len(shared) < 3:
        problems.append(f"only {len(shared)} anchor ids are in both tables; at least 3 are needed (check the ids)")
    if problems:
        raise ValueError("cannot pair anchors:\n  - " + "\n  - ".join(problems))
    source_row = {value: row for row, value in enumerate(source_ids)}
    target_row = {value: row for row, value in enumerate(target_ids)}
    unmatched = len(source_ids) + len(target_ids) - 2 * len(shared)
    return (shared, source[[source_row[v] for v in shared]], target[[target_row[v] for v in shared]], unmatched)


@dataclass(frozen=True)
class TableRef:
    """Where an embedding table is (a Parquet file or directory, or a store table) and which columns hold its ids
    and vectors."""

    url: str
    storage_options: Mapping[str, Any] = field(default_factory=dict)
    id_column: str = ID_COLUMN
    vector_column: str = EMBEDDING_COLUMN
    store: StoreRef | None = None


def load_paired_anchors(target: TableRef, source: TableRef, source_is_corpus: bool = False) -> PairedAnchors:
    """Read both sides' anchor tables and pair them on ``id``.

    Args:
        target: anchor table in the target space.
        source: anchor table in the source space, or the corpus itself when ``source_is_corpus``.
        source_is_corpus: read only the target's anchor ids out of ``source`` (pushed down to the scan), so a
            vector-store migration takes its source-side anchors from the store.
    """
    target_ids, target_vectors, target_meta = read_embeddings(target.url, target.storage_options)
    source_ids, source_vectors, source_meta = read_embeddings(
        source.url,
        source.storage_options,
        source.id_column,
        source.vector_column,
        ids=target_ids if source_is_corpus else None,
        store=source.store,
    )
    ids, source_aligned, target_aligned, unmatched = pair_on_id(source_ids, source_vectors, target_ids, target_vectors)
    return PairedAnchors(
        ids, source_aligned, target_aligned, unmatched, source_meta.get("space"), target_meta.get("space")
    )
