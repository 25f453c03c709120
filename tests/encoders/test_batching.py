"""Unit tests of batch planning, ragged packing and prefetching: pure numpy, checked against plain-Python references."""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.encoders.batching import (
    Batch,
    bucket_lengths,
    pack,
    plan_token_batches,
    prefetched,
    ragged_from_lists,
)


@st.composite
def plans(draw: st.DrawFn) -> tuple[np.ndarray, int, int, int, int | None]:
    """Random lengths with a valid (budget, bucket, max_length, max_rows)."""
    max_length = draw(st.integers(2, 300))
    bucket = draw(st.sampled_from([1, 2, 7, 8, 32, 64]))
    budget = draw(st.integers(max_length, 8 * max_length + 50))
    max_rows = draw(st.one_of(st.none(), st.integers(1, 40)))
    n = draw(st.integers(0, 120))
    seed = draw(st.integers(0, 2**31 - 1))
    lengths = np.random.default_rng(seed).integers(1, max_length + 1, size=n)
    return lengths, budget, bucket, max_length, max_rows


@settings(max_examples=200, deadline=None)
@given(case=plans())
def test_plan_properties(case: tuple[np.ndarray, int, int, int, int | None]) -> None:
    lengths, budget, bucket, max_length, max_rows = case
    batches = plan_token_batches(lengths, token_budget=budget, bucket=bucket, max_length=max_length, max_rows=max_rows)
    rows = np.concatenate([b.rows for b in batches]) if batches else np.zeros(0, np.int64)
    assert sorted(rows.tolist()) == list(range(len(lengths)))  # every row exactly once
    for b in batches:
        assert len(b.rows) >= 1 and b.length >= lengths[b.rows].max()
        assert b.length % bucket == 0 or b.length == max_length
        assert b.tokens <= budget and (max_rows is None or len(b.rows) <= max_rows)
    assert len({b.length for b in batches}) <= math.ceil(max_length / bucket)
    # Longest first, and deterministic down to the last index.
    assert [b.length for b in batches] == sorted((b.length for b in batches), reverse=True)
    again = plan_token_batches(
        lengths.copy(), token_budget=budget, bucket=bucket, max_length=max_length, max_rows=max_rows
    )
    assert [(b.rows.tolist(), b.length) for b in again] == [(b.rows.tolist(), b.length) for b in batches]


def test_plan_example_fills_batches_from_the_longest_row() -> None:
    lengths = np.array([3, 40, 9, 33, 5, 40, 64, 1])
    batches = plan_token_batches(lengths, token_budget=128, bucket=16, max_length=64)
    # Sorted: 64, 40, 40, 33, 9, 5, 3, 1 (rows 6, 1, 5, 3, 2, 4, 0, 7). A batch at 64 holds 128 // 64 = 2 rows,
    # so the first 40 rides along padded to 64; then 2 rows at 48; the four short rows share one batch of 16.
    assert [(b.rows.tolist(), b.length) for b in batches] == [([6, 1], 64), ([5, 3], 48), ([2, 4, 0, 7], 16)]
    assert bucket_lengths(np.array([1, 16, 17, 63, 64]), 16, 60).tolist() == [16, 16, 32, 60, 60]


def test_bucket_one_pads_each_batch_to_its_longest_row() -> None:
    lengths = np.array([5, 9, 2, 7, 3])
    batches = plan_token_batches(lengths, token_budget=20, bucket=1, max_length=10, max_rows=2)
    assert [(b.rows.tolist(), b.length) for b in batches] == [([1, 3], 9), ([0, 4], 5), ([2], 2)]


def test_plan_rejects_bad_settings_with_the_fix() -> None:
    with pytest.raises(ValueError, match="raise token_budget or lower max_length"):
        plan_token_batches(np.array([3]), token_budget=10, bucket=4, max_length=16)
    with pytest.raises(ValueError, match=r"rows \[1\].*truncate to max_length and drop empty rows"):
        plan_token_batches(np.array([3, 0]), token_budget=64, bucket=4, max_length=16)
    with pytest.raises(ValueError, match="outside"):
        plan_token_batches(np.array([17]), token_budget=64, bucket=4, max_length=16)
    with pytest.raises(ValueError, match="bucket must be a positive int"):
        plan_token_batches(np.array([3]), token_budget=64, bucket=0, max_length=16)
    with pytest.raises(ValueError, match="1-d integer array"):
        plan_token_batches(np.array([3.5]), token_budget=64, bucket=4, max_length=16)
    assert plan_token_batches(np.array([], dtype=np.int64), token_budget=64, bucket=4, max_length=16) == []


@settings(max_examples=100, deadline=None)
@given(
    seqs=st.lists(st.lists(st.integers(1, 999), min_size=0, max_size=9), min_size=1, max_size=12),
    extra=st.integers(0, 3),
    seed=st.integers(0, 2**31 - 1),
)
def test_pack_matches_python_padding(seqs: list[list[int]], extra: int, seed: int) -> None:
    ragged = ragged_from_lists({"input_ids": seqs, "token_type_ids": [[7] * len(s) for s in seqs]})
    assert len(ragged) == len(seqs) and ragged.lengths.tolist() == [len(s) for s in seqs]
    rows = np.random.default_rng(seed).permutation(len(seqs))[: max(1, len(seqs) // 2)]
    width = max(len(seqs[r]) for r in rows) + extra
    out = pack(ragged, rows, width, {"input_ids": -1})
    for i, r in enumerate(rows):
        s = seqs[r]
        assert out["input_ids"][i].tolist() == s + [-1] * (width - len(s))
        assert out["token_type_ids"][i].tolist() == [7] * len(s) + [0] * (width - len(s))
        assert out["attention_mask"][i].tolist() == [1] * len(s) + [0] * (width - len(s))
    assert all(a.dtype == np.int64 and a.shape == (len(rows), width) for a in out.values())


def test_pack_and_ragged_errors() -> None:
    ragged = ragged_from_lists({"input_ids": [[1, 2, 3], [4]]})
    with pytest.raises(ValueError, match="batch length is 2"):
        pack(ragged, np.array([0]), 2, {})
    with pytest.raises(ValueError, match="does not line up"):
        ragged_from_lists({"input_ids": [[1, 2]], "token_type_ids": [[0]]})
    with pytest.raises(ValueError, match="at least one column"):
        ragged_from_lists({})


@pytest.mark.parametrize("ahead", [True, False])
def test_prefetched_keeps_order_and_runs_at_most_one_ahead(ahead: bool) -> None:
    started: list[int] = []
    lock = threading.Lock()

    def work(i: int) -> int:
        with lock:
            started.append(i)
        return i * i

    got = []
    for k, value in enumerate(prefetched(work, range(6), ahead=ahead)):
        with lock:
            assert len(started) <= k + 2  # this item and at most the next one
        got.append(value)
    assert got == [i * i for i in range(6)] and started == list(range(6))


@pytest.mark.parametrize("ahead", [True, False])
def test_prefetched_raises_the_workers_error_at_its_item(ahead: bool) -> None:
    def work(i: int) -> int:
        if i == 2:
            raise KeyError("boom")
        return i

    got = []
    with pytest.raises(KeyError, match="boom"):
        for value in prefetched(work, [0, 1, 2, 3], ahead=ahead):
            got.append(value)
    assert got == [0, 1]


def test_batch_tokens() -> None:
    assert Batch(rows=np.array([4, 2, 9]), length=32).tokens == 96
