"""Pass through embeddings that a table already holds, checked: the encoder for sources with a vector column.

A vector-store export arrives as a column of vectors: a ``(n, d)`` array when Arrow stores
``fixed_size_list<float>[d]``, or a sequence of per-row arrays/lists (with ``None`` for nulls) when it stores
``list<float>``. :func:`invalid_vector_rows` names every row that cannot be translated, with the same reasons as
the translation core (:func:`pipeline.translate.checks.bad_rows`), so the pipeline can quarantine them; encoding
then just returns float32.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline.encoders.rows import bad_rows_error
from pipeline.encoders.specs import spec_from_options
from pipeline.translate.checks import bad_rows

__all__ = [
    "PrecomputedEncoder",
    "PrecomputedSpec",
    "build_precomputed_encoder",
    "check_vectors",
    "invalid_vector_rows",
]



@dataclass(frozen=True)
class PrecomputedSpec:
    """What the vector column must hold.

    Attributes:
        dim: Width every row must have.
    """

    dim: int

    def __post_init__(self) -> None:
        if not isinstance(self.dim, int) or isinstance(self.dim, bool) or self.dim < 1:
            raise ValueError(f"dim must be a positive int (the width of the stored vectors), got {self.dim!r}.")


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
            array = np.stack(array)
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


class PrecomputedEncoder:
    """Stored embeddings as an encoder satisfying :class:`pipeline.encoders.Encoder`.

    Attributes:
        spec: What was asked for.
        dim: Width of the stored (and returned) vectors.
    """

    modality = "vector"

    def __init__(self, spec: PrecomputedSpec) -> None:
        self.spec = spec
        self.dim: int = spec.dim

    def encode(self, vectors: Sequence[object] | np.ndarray, /) -> np.ndarray:
        """Check and pass through stored vectors.

        Args:
            vectors: ``(n, dim)`` array, or ``n`` rows of ``dim`` numbers each.

        Returns:
            ``(n, dim)`` float32, row ``i`` for ``vectors[i]``.

        Raises:
            ValueError: Some rows are invalid (see :func:`invalid_vector_rows`).
        """
        return check_vectors(vectors, self.dim)


def build_precomputed_encoder(**options: Any) -> PrecomputedEncoder:
    """Registry factory: a :class:`PrecomputedEncoder` from the options of a config's ``encoder`` block.

    Raises:
        TypeError: An option is unknown (the message lists the valid ones) or ``dim`` is missing.
        ValueError: ``dim`` is not a positive int.
    """
    return PrecomputedEncoder(spec_from_options(PrecomputedSpec, "precomputed", options, "the width of the vectors"))
