"""Large files cut at record boundaries: every record in exactly one range, whatever the budget."""

from __future__ import annotations

import csv
import io
import itertools
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.io.ranges import line_ranges, read_line_range, read_row_range, row_ranges


def jsonl_bytes(texts: list[str]) -> bytes:
    return "".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(texts)).encode()


def csv_bytes(texts: list[str]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_ALL)  # a bare \r would end a record
    writer.writerow(["id", "text"])
    writer.writerows([i, t] for i, t in enumerate(texts))
    return out.getvalue().encode()


def rows_of(data: bytes, fmt: str, budget: int) -> list[dict]:
    f = io.BytesIO(data)
    ranges = line_ranges(f, len(data), budget, quoted=fmt == "csv")
    assert ranges[0][0] == 0 and ranges[-1][1] == len(data)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(ranges))  # contiguous, no gap, no overlap
    rows = []
    for byte_range in ranges:
        rows += read_line_range(io.BytesIO(data), fmt, byte_range).to_pylist()
    return rows


TEXTS = st.lists(st.text(alphabet=st.sampled_from('ab ,"\n\r{}:é'), min_size=1, max_size=30), min_size=1, max_size=40)


@settings(max_examples=60, deadline=None)
@given(texts=TEXTS, budget=st.integers(1, 400))
def test_every_record_lands_in_exactly_one_range(texts, budget):
    for fmt, data in (("jsonl", jsonl_bytes(texts)), ("csv", csv_bytes(texts))):
        rows = rows_of(data, fmt, budget)
        # CSV fields are text, never guessed: the id 0 reads as "0" (JSON keeps its own types).
        ids = list(range(len(texts))) if fmt == "jsonl" else [str(i) for i in range(len(texts))]
        assert [r["id"] for r in rows] == ids, fmt
        assert [r["text"] for r in rows] == texts, fmt  # quotes, commas, newlines and ":" come back as written
        # The same rows as reading the file whole: a quoted newline never cuts a CSV record.
        assert rows == read_line_range(io.BytesIO(data), fmt, None).to_pylist(), fmt


def test_csv_fields_are_text_and_only_an_unquoted_empty_field_is_null():
    data = b'id,text,n\n007,NA,1\n008,,2\n009,"",null\n'
    rows = read_line_range(io.BytesIO(data), "csv", None).to_pylist()
    assert rows == [
        {"id": "007", "text": "NA", "n": "1"},
        {"id": "008", "text": None, "n": "2"},
        {"id": "009", "text": "", "n": "null"},
    ]
    # A byte-order mark (Excel writes one) is not part of the first column's name: `id` is still read as text.
    assert read_line_range(io.BytesIO("\ufeffid,text\n001,a\n".encode()), "csv", None).to_pylist() == [
        {"id": "001", "text": "a"}
    ]


def test_ranges_follow_the_budget_and_a_long_record_is_never_split():
    texts = ["x" * 50] * 100 + ["y" * 5000] + ["z" * 50] * 100
    data = jsonl_bytes(texts)
    ranges = line_ranges(io.BytesIO(data), len(data), 1000, quoted=False)
    assert 15 <= len(ranges) <= 25
    assert max(end - start for start, end in ranges) >= 5000  # the long record's range holds it whole
    assert line_ranges(io.BytesIO(data), len(data), len(data), quoted=False) == [(0, len(data))]


@pytest.mark.parametrize("chunk_rows", [7, 10, 64, 1000])
def test_row_ranges_of_a_large_row_group(tmp_path, chunk_rows):
    table = pa.table({"id": list(range(100)), "v": [float(i) for i in range(100)]})
    pq.write_table(table, tmp_path / "t.parquet", row_group_size=64)  # row groups of 64 and 36 rows
    parquet = pq.ParquetFile(tmp_path / "t.parquet")
    got = []
    for group in range(parquet.num_row_groups):
        for rows in row_ranges(parquet.metadata.row_group(group).num_rows, chunk_rows):
            piece = read_row_range(parquet, group, rows, ["id"])
            assert piece.column_names == ["id"] and piece.num_rows <= max(chunk_rows, 64)
            got += piece.column("id").to_pylist()
    assert got == list(range(100))
