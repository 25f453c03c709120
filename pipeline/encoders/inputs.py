"""What can be encoded: torch-free checks of texts and stored vectors, and the error for a batch with bad rows.

The engine's quarantine rules (``pipeline.engine.quarantine``) call these to set bad rows aside before a model
sees them; the encoders call the ``check_*`` forms to refuse a bad batch outright. Reasons are the same either
way, and match the translation core's (:func:`pipeline.translate.checks.bad_rows`) for vectors. Image decoding,
which yields the decoded images too, is in :mod:`pipeline.encoders.images`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from pipeline.translate.checks import bad_rows

__all__ = ["bad_rows_error", "check_texts", "check_vectors", "invalid_text_rows", "invalid_vector_rows"]

SHOWN = 20  # rows quoted in an error message


def bad_rows_error(bad: Mapping[int, str], total: int, what: str, finder: str) -> ValueError:
    """The error for a batch with unusable rows, naming the first rows, their reasons and the finder function.

    Args:
        bad: ``{row: reason}``, in row order.
        total: rows in the batch.
        what: e.g. "texts cannot be encoded".
        finder: the function that lists such rows, so callers can filter (or quarantine) them first.
    """
    shown = "; ".join(f"row {i}: {why}" for i, why in list(bad.items())[:SHOWN])
    more = f" (and {len(bad) - SHOWN} more)" if len(bad) > SHOWN else ""
    return ValueError(
        f"{len(bad)} of {total} {what}, rows {sorted(bad)[:SHOWN]}{more}: {shown}. "
        f"Drop or fix those rows first; {finder}() lists them."
    )


def invalid_text_rows(texts: Sequence[object]) -> dict[int, str]:
    """Find rows that cannot be encoded, with the reason for each.

    Args:
        texts: ``n`` candidate texts.

    Returns:
        ``{row index: reason}`` in row order; empty when every row is a non-blank str.
    """
    bad: dict[int, str] = {}
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            bad[i] = f"not a str (got {type(text).__name__})"
        elif not text.strip():
            # A blank text still tokenizes (to just the special tokens) but its vector means nothing, and a
            # silent nonsense vector is worse than a quarantined row.
            bad[i] = "empty or whitespace-only"
    return bad


def check_texts(texts: Sequence[object]) -> None:
    """Raise unless every row of ``texts`` can be encoded.

    Raises:
        TypeError: ``texts`` is one string rather than a sequence of them.
        ValueError: Some rows are not non-blank strings; the message names their indices and reasons.
    """
    if isinstance(texts, (str, bytes)):
        raise TypeError("texts must be a sequence of str, not a single string; wrap it in a list.")
    bad = invalid_text_rows(texts)
    if bad:
        raise bad_rows_error(bad, len(texts), "texts cannot be encoded", "invalid_text_rows")


def _f32(x: object) -> np.ndarray:
    # A float64 value beyond float32's range becomes inf here on purpose: the finiteness check then reports it.
    with np.errstate(over="ignore"):
        return np.asarray(x, dtype=np.float32)


def _is_real(array: np.ndarray) -> bool:
    return np.issubdtype(array.dtype, np.number) and not np.issubdtype(array.dtype, np.complexfloating)


def _as_float32_matrix(vectors: object, dim: int) -> np.ndarray | None:
    """The batch as ``(n, dim)`` float32 if it converts as a whole, else None (ragged, nulls, wrong width)."""
    try:
        array = vectors if isinstance(vectors, np.ndarray) else np.asarray(vectors)
        if array.dtype == object and array.ndim == 1 and len(array):
            # Arrow's list<float> arrives as an object array of row arrays; stacking it is one C loop.
            array = np.stack(list(array))  # stack iterates its argument into a list of rows anyway
    except (ValueError, TypeError):  # ragged rows or nulls: numpy refuses to build one array from them
        return None
    if array.ndim != 2 or array.shape[1] != dim or not _is_real(array):
        return None
    return _f32(array)


def _row_reason(row: object, dim: int) -> str | None:
    """Why one row cannot be used, or None if it can."""
    if row is None:
        return "null"
    try:
        vector = np.asarray(row)
    except ValueError:
        return f"not a flat numeric vector (got a ragged {type(row).__name__})"
    if vector.ndim != 1 or not _is_real(vector):
        return f"not a flat numeric vector (got {type(row).__name__} of shape {vector.shape}, dtype {vector.dtype})"
    if vector.shape[0] != dim:
        return f"has {vector.shape[0]} values, expected dim={dim}"
    return None


def invalid_vector_rows(vectors: Sequence[object] | np.ndarray, dim: int) -> dict[int, str]:
    """Find rows that cannot be passed on, with the reason for each.

    Checks run on the float32 values actually returned, so a float64 value beyond float32's range counts as
    non-finite.

    Args:
        vectors: ``(n, dim)`` array, or ``n`` rows each a 1-D array/list of numbers, or ``None``.
        dim: Width every row must have.

    Returns:
        ``{row index: reason}`` in row order; empty when every row is a finite, non-zero vector of ``dim`` values.
        Reasons: ``"null"``, ``"not a flat numeric vector ..."``, ``"has k values, expected dim=d"``,
        ``"non-finite value (NaN or inf)"``, ``"zero vector"``.
    """
    if isinstance(vectors, (str, bytes)):
        raise TypeError("vectors must be a sequence of vectors or a 2-D array, not a string.")
    matrix = _as_float32_matrix(vectors, dim)
    if matrix is not None:
        return _value_problems(matrix, np.arange(matrix.shape[0]))
    bad: dict[int, str] = {}
    good_rows: list[int] = []
    for i, row in enumerate(vectors):
        reason = _row_reason(row, dim)
        if reason is None:
            good_rows.append(i)
        else:
            bad[i] = reason
    if good_rows:
        values = np.stack([_f32(vectors[i]) for i in good_rows])
        bad.update(_value_problems(values, np.asarray(good_rows)))
    return dict(sorted(bad.items()))


def _value_problems(matrix: np.ndarray, rows: np.ndarray) -> dict[int, str]:
    """``matrix: (m, dim)`` float32 whose row ``j`` is input row ``rows[j]`` -> ``{input row: reason}``."""
    bad = {int(rows[j]): reason for reason, found in bad_rows(matrix).items() for j in found}
    return dict(sorted(bad.items()))


def check_vectors(vectors: Sequence[object] | np.ndarray, dim: int) -> np.ndarray:
    """Validate a batch and return it as ``(n, dim)`` float32.

    Raises:
        ValueError: Some rows are invalid; the message names their indices and reasons (see
            :func:`invalid_vector_rows`).
    """
    bad = invalid_vector_rows(vectors, dim)
    if bad:
        raise bad_rows_error(bad, len(vectors), "vectors cannot be used", "invalid_vector_rows")
    if len(vectors) == 0:
        return np.empty((0, dim), dtype=np.float32)
    matrix = _as_float32_matrix(vectors, dim)
    if matrix is None:  # rows were lists/arrays that numpy would not stack as one (e.g. an object array)
        matrix = np.stack([_f32(row) for row in vectors])
    return np.ascontiguousarray(matrix, dtype=np.float32)
