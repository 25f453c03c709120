"""The nightly diff against a set-based reference, on random nights; partitions are stable and cover every id."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.engine.partitions import partition_of
from pipeline.jobs.sync.diff import diff

IDS = st.lists(st.sampled_from([f"doc{i}" for i in range(30)]), unique=True, max_size=30)


def table(rows: dict[str, str]) -> pa.Table:
    return pa.table(
        {"id": pa.array(list(rows), pa.string()), "content_hash": pa.array(list(rows.values()), pa.string())}
    )


@settings(max_examples=200, deadline=None)
@given(export_ids=IDS, store_ids=IDS, edits=st.sets(st.integers(0, 29)), full=st.booleans(), marked=IDS)
def test_diff_matches_a_set_reference(export_ids, store_ids, edits, full, marked):
    store = {i: f"h-{i}" for i in store_ids}
    export = {i: f"h-{i}" + ("-edited" if int(i[3:]) in edits else "") for i in export_ids}
    result = diff(table(export), table(store), full, pa.array(marked, pa.string()))
    both = export.keys() & store.keys()
    assert result.new.to_pylist() == sorted(export.keys() - store.keys())
    assert result.changed.to_pylist() == sorted(i for i in both if export[i] != store[i])
    assert result.unchanged.to_pylist() == sorted(i for i in both if export[i] == store[i])
    gone = store.keys() - export.keys() if full else store.keys() & set(marked)
    assert result.deleted.to_pylist() == sorted(gone)


def test_an_export_with_a_repeated_id_is_refused():
    with pytest.raises(ValueError, match=r"repeats 1 id\(s\), e.g. \['a'\]"):
        diff(
            table({"a": "1"}).append_column("x", pa.array([0])).select(["id", "content_hash"]).take([0, 0]),
            table({}),
            full=True,
        )


def test_partitions_are_stable_and_cover_every_id():
    ids = pa.array([f"doc-{i}" for i in range(10_000)])
    parts = partition_of(ids, 8)
    assert parts.min() == 0 and parts.max() == 7 and np.bincount(parts).min() > 1000  # spread, not skewed
    np.testing.assert_array_equal(parts, partition_of(ids, 8))
    assert partition_of(pa.array(["doc-0"]), 8)[0] == 7  # zlib.crc32(b"doc-0") % 8, not a per-process salted hash


@settings(max_examples=100, deadline=None)
@given(
    ids=st.lists(st.integers(0, 10**9), unique=True, max_size=200), k=st.integers(0, 50), partitions=st.integers(1, 8)
)
def test_picking_by_partition_offers_equals_picking_from_everything(ids, k, partitions):
    """Each partition offers its k lowest ranks; the k lowest of the offers are the k lowest of all ids."""
    import hashlib

    from pipeline.jobs.sync.sample import lowest, pick

    column = pa.array(ids, pa.int64())
    parts = partition_of(column, partitions)
    offers = [
        lowest(pa.array([i for i, p in zip(ids, parts, strict=True) if p == part], pa.int64()), k)
        for part in range(partitions)
    ]
    reference = sorted(ids, key=lambda i: hashlib.blake2b(str(i).encode(), digest_size=8).digest())[:k]
    assert pick(offers, k) == reference


def test_picked_rows_spread_over_the_corpus_not_its_first_ids():
    from pipeline.jobs.sync.sample import lowest

    picked = [value for _, value in lowest(pa.array(range(10_000), pa.int64()), 500)]
    assert picked == [value for _, value in lowest(pa.array(range(10_000), pa.int64()), 500)]  # stable
    counts = np.bincount(np.array(picked) // 1000, minlength=10)  # ten slices of the id range
    assert counts.min() >= 25  # about 50 each; a "first rows" pick would put all 500 in the first slice
