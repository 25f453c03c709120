"""A chunk crosses each stage boundary as one row and comes back whole: ids, kept rows, reasons, model input."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest
from PIL import Image

from pipeline.encoders.batching import Ragged, ragged_from_lists
from pipeline.engine.chunks import (
    EncodedChunk,
    PreparedChunk,
    encoded_from_row,
    encoded_to_row,
    failed_chunk,
    prepared_from_row,
    prepared_to_row,
)
from pipeline.io.records import quarantine_table
from pipeline.io.sources import Shard
from pipeline.io.tables import embedding_table, read_provenance

SHARD = Shard(index=3, files=("data/a.jsonl",), byte_range=(100, 900), version="v1")
IDS = pa.array(["a", None, "c", "d"])
KEEP = np.array([0, 2, 3], dtype=np.int64)
BAD = {1: "null id"}


def _round_trip(items: object) -> PreparedChunk:
    chunk = PreparedChunk(SHARD, IDS, KEEP, items, BAD, {"read": 0.5}, {"prepare_pid": 7})
    row = prepared_to_row(chunk)
    assert row.num_rows == 1  # one row: Ray Data cannot split a chunk between blocks
    back = prepared_from_row(pa.concat_tables([row, row]), 1)
    assert back.shard == SHARD and back.ids.equals(IDS) and back.keep.tolist() == KEEP.tolist()
    assert back.bad == BAD and back.seconds == {"read": 0.5} and back.info == {"prepare_pid": 7}
    assert back.failed is None
    return back


def test_token_rows_keep_their_flat_layout() -> None:
    tokens = ragged_from_lists(
        {
            "input_ids": [[101, 7, 102], [101, 102], [101, 5, 6, 9, 102]],
            "token_type_ids": [[0, 0, 0], [0, 0], [0, 0, 0, 0, 0]],
        }
    )
    back = _round_trip(tokens).items
    assert isinstance(back, Ragged)
    assert back.offsets.tolist() == [0, 3, 5, 10] and back.lengths.tolist() == [3, 2, 5]
    for name, values in tokens.columns.items():
        np.testing.assert_array_equal(back.columns[name], values)


def test_stored_vectors_come_back_bit_for_bit() -> None:
    vectors = np.random.default_rng(0).standard_normal((3, 5)).astype(np.float32)
    back = _round_trip(vectors).items
    assert back.dtype == np.float32
    np.testing.assert_array_equal(back, vectors)


def test_decoded_images_come_back_as_the_same_rgb_pixels() -> None:
    rng = np.random.default_rng(1)
    images = [Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)) for h, w in ((4, 6), (9, 2), (1, 1))]
    back = _round_trip(images).items
    assert [image.size for image in back] == [(6, 4), (2, 9), (1, 1)]
    for before, after in zip(images, back, strict=True):
        assert after.mode == "RGB"
        np.testing.assert_array_equal(np.asarray(after), np.asarray(before))


def test_texts_come_back_in_order() -> None:
    assert _round_trip(["alpha", "β gamma", ""]).items == ["alpha", "β gamma", ""]


def test_a_failed_chunk_carries_its_reason_and_nothing_else() -> None:
    back = prepared_from_row(prepared_to_row(failed_chunk(SHARD, "a.jsonl: OSError: gone", {"prepare_pid": 3})))
    assert back.failed == "a.jsonl: OSError: gone" and len(back.ids) == 0 and len(back.keep) == 0


def test_an_encoded_chunk_keeps_every_part_its_provenance_and_the_quarantine() -> None:
    ids = pa.array(["a", "c", "d"])
    parts = (
        embedding_table(ids, np.eye(3, 4, dtype=np.float32), {"space": "mpnet"}),
        embedding_table(ids, np.ones((3, 2), np.float32), {"space": "minilm"}),
    )
    rejected = quarantine_table(BAD, IDS, SHARD.location)
    counts = {"rows_in": 4, "rows_out": 3, "rows_quarantined": 1}
    chunk = EncodedChunk(SHARD, parts, rejected, counts, {"encode": 1.0}, {"pid": 11})
    back = encoded_from_row(encoded_to_row(chunk))
    assert back.shard == SHARD and back.counts == counts and back.info == {"pid": 11}
    assert [part.equals(original) for part, original in zip(back.parts, parts, strict=True)] == [True, True]
    assert [read_provenance(part.schema)["space"] for part in back.parts] == ["mpnet", "minilm"]
    assert back.quarantine.to_pylist() == rejected.to_pylist()


@pytest.mark.parametrize("width", [1, 768])
def test_a_large_chunk_travels_without_copying_into_python_objects(width: int) -> None:
    vectors = np.arange(20_000 * width, dtype=np.float32).reshape(20_000, width)
    row = prepared_to_row(PreparedChunk(SHARD, pa.array(range(20_000)), np.arange(20_000), vectors, {}, {}, {}))
    assert row.schema.field("items").type == pa.large_binary()
    assert json.loads(row.column("header")[0].as_py())["items"] == "vectors"
    np.testing.assert_array_equal(prepared_from_row(row).items, vectors)
