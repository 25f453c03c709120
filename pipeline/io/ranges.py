"""Bounded pieces of large files, cut at record boundaries: byte ranges of JSONL and CSV, row ranges of Parquet.

A 20 GB JSONL file must not be one unit of work read whole into one actor's memory. The planner cuts a line file
into byte ranges of about ``chunk_bytes`` that each start at a record: after a newline for JSONL (JSON escapes
newlines inside strings, so every raw newline ends a record), after a newline outside quotes for CSV (RFC 4180
allows newlines inside quoted fields; a quote toggles the state and an escaped ``""`` toggles it twice). A
Parquet row group above ``chunk_rows`` becomes row ranges. The cuts depend only on the file's bytes and the two
budgets, so the same file always gives the same ranges, and part names stay deterministic across reruns.

Planning reads little: a JSONL cut reads forward from the target offset to the next newline; a CSV file is
scanned once, vectorized, in blocks (memory stays at one block). Reading a range reads only its bytes (plus the
header line for a CSV range that does not start the file).
"""

from __future__ import annotations

import csv as std_csv
import io
import json
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pq

SCAN_BLOCK = 8 << 20  # bytes read at a time when looking for record boundaries
QUOTE, NEWLINE = ord('"'), ord("\n")
UNREADABLE_KEY = "irp.unreadable"  # schema metadata: records a reader could not parse, {where: why}


def line_ranges(f: BinaryIO, size: int, chunk_bytes: int, quoted: bool) -> list[tuple[int, int]]:
    """``[start, end)`` byte ranges covering a line file, each starting at a record, about ``chunk_bytes`` long.

    Args:
        f: the file, opened for binary reading (seekable).
        size: its size in bytes.
        chunk_bytes: the budget; a record longer than it makes its range longer, never splits.
        quoted: CSV: a newline inside a quoted field is not a record end.
    """
    if size <= chunk_bytes:
        return [(0, size)]
    ends = _csv_record_ends(f, size, chunk_bytes) if quoted else _jsonl_record_ends(f, size, chunk_bytes)
    starts = [0, *ends]
    return [(start, end) for start, end in zip(starts, [*ends, size], strict=True) if end > start]


def _jsonl_record_ends(f: BinaryIO, size: int, chunk_bytes: int) -> list[int]:
    """Offsets just past the first newline at or after each target (every ``chunk_bytes`` from the last cut)."""
    cuts: list[int] = []
    target = chunk_bytes
    while target < size:
        cut = _next_newline(f, target - 1, size)
        if cut >= size:
            break
        cuts.append(cut)
        target = cut + chunk_bytes
    return cuts


def _next_newline(f: BinaryIO, offset: int, size: int) -> int:
    """The offset just past the first newline at or after ``offset``, or ``size`` if there is none."""
    f.seek(offset)
    position = offset
    while position < size:
        block = f.read(min(1 << 16, size - position))
        found = block.find(b"\n")
        if found >= 0:
            return position + found + 1
        position += len(block)
    return size


def _csv_record_ends(f: BinaryIO, size: int, chunk_bytes: int) -> list[int]:
    """Offsets just past a newline outside quotes, the first such at or after each target, in one scan."""
    cuts: list[int] = []
    target, quotes_before, position = chunk_bytes, 0, 0
    f.seek(0)
    while position < size:
        block = np.frombuffer(f.read(min(SCAN_BLOCK, size - position)), dtype=np.uint8)
        quote_at = np.flatnonzero(block == QUOTE)
        for newline in np.flatnonzero(block == NEWLINE):
            absolute = position + int(newline) + 1
            if absolute < target:
                continue
            # Outside quotes iff an even number of quote characters came before this newline.
            if (quotes_before + int(np.searchsorted(quote_at, newline))) % 2 == 0 and absolute < size:
                cuts.append(absolute)
                target = absolute + chunk_bytes
        quotes_before += len(quote_at)
        position += len(block)
    return cuts


def csv_header_end(f: BinaryIO, size: int) -> int:
    """The offset just past the header record (the first newline outside quotes)."""
    f.seek(0)
    position, quotes_before = 0, 0
    while position < size:
        block = np.frombuffer(f.read(min(SCAN_BLOCK, size - position)), dtype=np.uint8)
        quote_at = np.flatnonzero(block == QUOTE)
        for newline in np.flatnonzero(block == NEWLINE):
            if (quotes_before + int(np.searchsorted(quote_at, newline))) % 2 == 0:
                return position + int(newline) + 1
        quotes_before += len(quote_at)
        position += len(block)
    return size


def read_line_range(f: BinaryIO, fmt: str, byte_range: tuple[int, int] | None, name: str = "") -> pa.Table:
    """Parse one range of a JSONL or CSV file (the whole file when ``byte_range`` is None).

    Args:
        name: the file's name, for the lines that cannot be read (see :func:`read_json_lines`).
    """
    if byte_range is None:
        data = f.read()
    else:
        start, end = byte_range
        header = b""
        if fmt == "csv" and start > 0:
            f.seek(0, io.SEEK_END)
            header_end = csv_header_end(f, f.tell())
            f.seek(0)
            header = f.read(header_end)
        f.seek(start)
        data = header + f.read(end - start)
    if fmt == "jsonl":
        try:
            return pa_json.read_json(io.BytesIO(data))
        except pa.ArrowInvalid:  # a line that is not JSON: read line by line, and name the lines that fail
            return read_json_lines(data, 0 if byte_range is None else byte_range[0], name)
    return read_csv_as_text(data)


def read_csv_as_text(data: bytes) -> pa.Table:
    """Whole CSV records (header first) as a table of string columns.

    Every field is text: type guessing would turn the id ``001`` into the integer 1, and give one file integer ids
    and the next string ids. An empty field is null; a quoted empty field (``""``) is the empty string. Invalid
    UTF-8 is let through, as the JSON reader does, for the quarantine to name row by row. (pyarrow would also
    read ``NA`` or ``null`` as null; a text may say "NA".)
    """
    header = data[: csv_header_end(io.BytesIO(data), len(data))].decode("utf-8-sig", errors="replace")  # BOM off
    names = next(std_csv.reader(io.StringIO(header)), [])
    return pa_csv.read_csv(
        io.BytesIO(data),
        # A quoted field may hold a newline (RFC 4180); pyarrow refuses one unless told to expect it.
        parse_options=pa_csv.ParseOptions(newlines_in_values=True),
        convert_options=pa_csv.ConvertOptions(
            column_types=dict.fromkeys(names, pa.string()),
            check_utf8=False,
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
        ),
    )


def read_json_lines(data: bytes, start: int, name: str) -> pa.Table:
    """The JSON lines of ``data`` that parse, as a table; the others are named ``<name>@<byte offset>`` with the
    parser's complaint in the schema metadata under :data:`UNREADABLE_KEY`, for the quarantine.

    Args:
        data: whole lines of a JSONL file; start: their offset in the file.
    """
    rows, unreadable, offset = [], {}, start
    kinds: dict[str, str] = {}  # field -> the JSON kind of its first non-null value
    for line in data.split(b"\n"):
        if line.strip():
            try:
                row = json.loads(line)
                if not isinstance(row, dict):
                    raise ValueError(f"a JSON {type(row).__name__}, not an object")
                clash = kind_clash(row, kinds)
                if clash:
                    unreadable[f"{name}@{offset}"] = clash
                else:
                    rows.append(row)
            except ValueError as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
                unreadable[f"{name}@{offset}"] = f"line is not a JSON object: {e}"
        offset += len(line) + 1
    # Every field of every line (from_pylist would take the first line's fields only).
    fields = dict.fromkeys(field for row in rows for field in row)
    table = pa.table({field: [row.get(field) for row in rows] for field in fields})
    return table.replace_schema_metadata({UNREADABLE_KEY: json.dumps(unreadable)})


def kind_clash(row: dict, kinds: dict[str, str]) -> str | None:
    """Why ``row`` cannot join the lines before it (a field of another JSON kind: an id ``7`` after ids ``"a"``),
    or None, and then the kinds of its new fields are noted in ``kinds``. Integers and floats are both numbers."""
    seen = {field: json_kind(value) for field, value in row.items() if value is not None}
    for field, kind in seen.items():
        if kinds.get(field, kind) != kind:
            return f"field {field!r} is a JSON {kind} where the lines before have a {kinds[field]}"
    kinds.update({field: kind for field, kind in seen.items() if field not in kinds})
    return None


def json_kind(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    kinds: dict[type, str] = {str: "string", list: "array", dict: "object"}
    return kinds[type(value)]


def unreadable_records(table: pa.Table) -> dict[str, str]:
    """``{where: why}`` of the records :func:`read_json_lines` could not read."""
    return json.loads((table.schema.metadata or {}).get(UNREADABLE_KEY.encode(), b"{}"))


def row_ranges(num_rows: int, chunk_rows: int) -> list[tuple[int, int] | None]:
    """``[start, stop)`` row ranges of one row group; ``[None]`` (the whole group) when it fits the budget."""
    if num_rows <= chunk_rows:
        return [None]
    return [(start, min(start + chunk_rows, num_rows)) for start in range(0, num_rows, chunk_rows)]


def read_row_range(
    parquet: pq.ParquetFile, row_group: int, rows: tuple[int, int] | None, columns: list[str] | None
) -> pa.Table:
    """One row group, or rows ``[start, stop)`` of it decoded batch by batch, so memory stays at one range."""
    if rows is None:
        return parquet.read_row_group(row_group, columns=columns)
    start, stop = rows
    kept, offset = [], 0
    for batch in parquet.iter_batches(batch_size=stop - start, row_groups=[row_group], columns=columns):
        low, high = max(start - offset, 0), min(stop - offset, batch.num_rows)
        if high > low:
            kept.append(batch.slice(low, high - low))
        offset += batch.num_rows
        if offset >= stop:
            break
    schema = parquet.schema_arrow if columns is None else pa.schema([parquet.schema_arrow.field(c) for c in columns])
    return pa.Table.from_batches(kept, schema=schema) if kept else schema.empty_table()
