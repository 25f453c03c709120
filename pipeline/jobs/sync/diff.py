"""Tonight's export against the store, by id and content hash: which rows are new, changed, unchanged or gone.

Pure Arrow, no IO: the nightly job runs it once per id partition (:mod:`pipeline.engine.partitions`), in
parallel, so no process ever holds every id of a large corpus.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

ID, HASH = "id", "content_hash"


@dataclasses.dataclass(frozen=True)
class Diff:
    """One partition's changes.

    Attributes:
        new: ``(a,)`` ids in the export and not in the store.
        changed: ``(b,)`` ids in both whose content hash differs.
        unchanged: ``(c,)`` ids in both with the same hash.
        deleted: ``(e,)`` ids to delete: in the store and not in a full export, or marked ``delete`` in a changes
            export (and in the store).
    """

    new: pa.Array
    changed: pa.Array
    unchanged: pa.Array
    deleted: pa.Array

    def counts(self) -> dict[str, int]:
        return {name: len(getattr(self, name)) for name in ("new", "changed", "unchanged", "deleted")}


def diff(export: pa.Table, store: pa.Table, full: bool, deletes: pa.Array | None = None) -> Diff:
    """Compare ``export`` (``id``, ``content_hash``: tonight's rows) with ``store`` (the same columns, as stored).

    Args:
        export: the rows to be in the store after tonight (for a changes export, its upserts only).
        store: the store's rows of the same partition.
        full: the export is the whole corpus, so store ids missing from it are deleted.
        deletes: ids a changes export marks ``delete``; deleted only where the store has them.

    Raises:
        ValueError: an id repeats in the export (which of its rows should win?), or is null.
    """
    _require_unique_ids(export)
    # A flag column on each side says where a row came from (a hash may itself be null).
    left = export.select([ID, HASH]).append_column("in_export", pa.array(np.ones(export.num_rows, bool)))
    right = store.select([ID, HASH]).append_column("in_store", pa.array(np.ones(store.num_rows, bool)))
    joined = left.join(
        right, keys=ID, join_type="full outer", left_suffix="_export", right_suffix="_store", coalesce_keys=True
    )
    ids = joined.column(ID)
    in_export, in_store = pc.is_valid(joined.column("in_export")), pc.is_valid(joined.column("in_store"))
    both = pc.and_(in_export, in_store)
    same = pc.fill_null(pc.equal(joined.column(f"{HASH}_export"), joined.column(f"{HASH}_store")), False)
    gone = pc.and_(in_store, pc.invert(in_export)) if full else _marked(ids, in_store, deletes)
    return Diff(
        new=_ids(ids, pc.and_(in_export, pc.invert(in_store))),
        changed=_ids(ids, pc.and_(both, pc.invert(same))),
        unchanged=_ids(ids, pc.and_(both, same)),
        deleted=_ids(ids, gone),
    )


def _marked(ids: pa.ChunkedArray, in_store: pa.Array, deletes: pa.Array | None) -> pa.Array:
    if deletes is None or not len(deletes):
        return pa.array(np.zeros(len(ids), bool))
    return pc.and_(in_store, pc.is_in(ids, value_set=deletes.cast(ids.type)))


def _ids(ids: pa.ChunkedArray, mask: pa.Array) -> pa.Array:
    return pc.filter(ids, mask).combine_chunks().sort() if len(ids) else pa.array([], ids.type)


def _require_unique_ids(export: pa.Table) -> None:
    ids = export.column(ID)
    if ids.null_count:
        raise ValueError(f"the export has {ids.null_count} row(s) without an id")
    counts = pc.value_counts(ids).flatten()
    repeated = pc.filter(counts[0], pc.greater(counts[1], 1))
    if len(repeated):
        raise ValueError(
            f"the export repeats {len(repeated)} id(s), e.g. {repeated[:3].to_pylist()}: each id must "
            "appear once, or the store could not say which row is current"
        )
