"""Every rule that sets a row aside, in one place: bad ids, content that cannot be encoded, outputs that are not
vectors. A rejected row goes to the quarantine in the output's records with its reason; every other row is kept.

The rules are applied per shard inside an actor, before (ids, content) and after (outputs) the model runs. The
content checks themselves live with the encoders (:mod:`pipeline.encoders.inputs`, image decoding in
:mod:`pipeline.encoders.images`), so an encoder refuses exactly what the engine quarantines.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from pipeline.encoders.inputs import invalid_text_rows, invalid_vector_rows
from pipeline.io.tables import vectors_of
from pipeline.translate import bad_rows

Reasons = dict[int, str]  # {row within the shard: why it was set aside}


def readable_ids(ids: pa.Array) -> tuple[pa.Array, Reasons]:
    """Ids a reader let through as invalid UTF-8 (JSON and CSV readers do), escaped (``caf\\xe9``) so they can be
    named and filed, with a reason each; every other id unchanged. ``ids`` is one array (``combine_chunks``)."""
    if not pa.types.is_string(ids.type) and not pa.types.is_large_string(ids.type):
        return ids, {}
    try:
        ids.validate(full=True)  # checks the UTF-8 of every value, in C++
        return ids, {}
    except pa.ArrowInvalid:
        raw = ids.cast(pa.large_binary() if pa.types.is_large_string(ids.type) else pa.binary()).to_pylist()
    escaped = [None if value is None else value.decode("utf-8", errors="backslashreplace") for value in raw]
    return pa.array(escaped, ids.type), not_utf8(raw, "id")


def id_problems(ids: pa.Array) -> Reasons:
    """Null and repeated ids of a shard (the first occurrence of an id is kept)."""
    bad: Reasons = {}
    seen: set[Any] = set()
    for row, value in enumerate(ids.to_pylist()):
        if value is None:
            bad[row] = "null id"
        elif value in seen:
            bad[row] = f"duplicate id {value!r} (first occurrence kept)"
        seen.add(value)
    return bad


def prepare_content(
    column: pa.ChunkedArray, modality: str, dim: int | None, max_pixels: int | None = None
) -> tuple[Sequence[Any] | np.ndarray, Reasons]:
    """A shard's content ready for its encoder, plus the rows that cannot be encoded.

    Args:
        column: the content column: texts, image bytes or paths, or stored vectors.
        modality: ``text``, ``image`` or ``vector``.
        dim: the width stored vectors must have (the translators' source width), if known.
        max_pixels: images above this many pixels are set aside undecoded (None: the decoder's default).

    Returns:
        ``(items, bad)``: texts as a list, images decoded (None where they failed), vectors as an ``(n, d)``
        float32 matrix (zeros in bad rows, never used); ``bad`` is ``{row: reason}``.
    """
    if modality == "text":
        texts, undecodable = decoded_texts(column)
        return texts, {**invalid_text_rows(texts), **undecodable}
    if modality == "image":
        from pipeline.encoders.images import decode_images  # PIL, only for image sources

        return decode_images(column.to_pylist(), *([] if max_pixels is None else [max_pixels]))
    return stored_vectors(column, dim)


def decoded_texts(column: pa.ChunkedArray) -> tuple[list[Any], Reasons]:
    """A text column as Python strings. A JSON reader passes invalid UTF-8 through into a string column; such a
    value becomes None, set aside with the offending byte, instead of failing its whole shard."""
    try:
        return column.to_pylist(), {}
    except UnicodeDecodeError:
        raw = column.cast(pa.large_binary()).to_pylist()
    bad = not_utf8(raw, "text")
    return [None if value is None or row in bad else value.decode("utf-8") for row, value in enumerate(raw)], bad


def not_utf8(values: Sequence[bytes | None], what: str) -> Reasons:
    """The values that are not valid UTF-8, each with the first offending byte and its offset."""
    bad: Reasons = {}
    for row, value in enumerate(values):
        if value is None:
            continue
        try:
            value.decode("utf-8")
        except UnicodeDecodeError as e:
            bad[row] = f"{what} is not valid UTF-8 (byte 0x{value[e.start]:02x} at offset {e.start})"
    return bad


def stored_vectors(column: pa.ChunkedArray, dim: int | None) -> tuple[np.ndarray, Reasons]:
    """A vector column as ``(n, d)`` float32 plus ``{row: reason}`` for nulls, wrong widths and bad values.

    The whole column converts in one zero-copy step when it is clean; only a column with nulls or ragged rows
    falls back to checking row by row. Bad rows come back as zeros in the matrix, never used.
    """
    try:
        matrix = vectors_of(column)
    except ValueError:
        matrix = None
    if matrix is not None and (dim is None or matrix.shape[1] == dim):
        return matrix, invalid_vector_rows(matrix, matrix.shape[1])
    rows = column.to_pylist()
    width = dim or next((len(row) for row in rows if row is not None), 1)
    bad = invalid_vector_rows(rows, width)
    matrix = np.zeros((len(rows), width), dtype=np.float32)
    for row, value in enumerate(rows):
        if row not in bad:
            matrix[row] = value
    return matrix, bad


def output_problems(vectors: np.ndarray, rows: np.ndarray) -> Reasons:
    """Rows whose output is not a usable vector (a model can emit NaN, e.g. on fp16 overflow): never written.

    Args:
        vectors: ``(m, d)`` outputs; row ``j`` belongs to shard row ``rows[j]``.
        rows: ``(m,)`` shard rows.
    """
    return {int(rows[j]): f"produced a {reason}" for reason, found in bad_rows(vectors).items() for j in found}


def kept(n: int, bad: Mapping[int, str]) -> np.ndarray:
    """Rows not in ``bad``, in order; vectorized because shards hold up to millions of rows."""
    return np.setdiff1d(np.arange(n, dtype=np.int64), np.fromiter(bad, dtype=np.int64, count=len(bad)))


def take(items: Sequence[Any] | np.ndarray, rows: np.ndarray) -> Sequence[Any] | np.ndarray:
    """``items[rows]`` for a matrix or a list."""
    if isinstance(items, np.ndarray):
        return items[rows]
    return [items[row] for row in rows]
