"""Input validation for the translation core: every problem is found before any fitting starts.

Errors name the argument, the rows at fault and what to do, so a user can fix a table without reading code.
"""

from __future__ import annotations

import numpy as np

_SHOWN = 5  # row indices quoted in an error message


def as_matrix(x: object, name: str, dtype: type = np.float64) -> np.ndarray:
    """Coerce ``x`` to a ``(n, d)`` array of ``dtype`` (float64 for fitting, float32 for batches), or raise.

    Raises:
        TypeError: ``x`` is not numeric.
        ValueError: ``x`` is not 2-D or is empty.
    """
    try:
        array: np.ndarray = np.asarray(x, dtype=dtype)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{name} must be a numeric (n, d) array; got {type(x).__name__}") from e
    if array.ndim != 2:
        raise ValueError(f"{name} must be 2-D (rows, dims); got shape {array.shape}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {array.shape})")
    return array


def bad_rows(x: np.ndarray) -> dict[str, np.ndarray]:
    """Rows that cannot be translated, keyed by reason.  ``x: (n, d) -> {reason: (m,) row indices}``.

    The execution layer uses the same reasons to quarantine rows instead of failing a whole shard.
    """
    finite = np.isfinite(x).all(axis=1)
    problems = {
        "non-finite value (NaN or inf)": np.flatnonzero(~finite),
        "zero vector": np.flatnonzero(finite & ~np.any(x != 0, axis=1)),
    }
    return {reason: rows for reason, rows in problems.items() if rows.size}


def row_problems(x: np.ndarray, name: str) -> list[str]:
    """Human-readable descriptions of :func:`bad_rows`, one per reason."""
    return [
        f"{name}: {rows.size} row(s) with a {reason} (first: {rows[:_SHOWN].tolist()})"
        for reason, rows in bad_rows(x).items()
    ]


def require_clean(x: object, name: str, dim: int | None = None, dtype: type = np.float64) -> np.ndarray:
    """Validate one embedding matrix: 2-D, numeric, finite, no zero rows, and ``dim`` columns if given."""
    array = as_matrix(x, name, dtype)
    problems = row_problems(array, name)
    if dim is not None and array.shape[1] != dim:
        problems.insert(0, f"{name} has {array.shape[1]} dims but this translator expects {dim}")
    _raise_all(problems)
    return array


def require_anchor_pair(source: object, target: object) -> tuple[np.ndarray, np.ndarray]:
    """Validate paired anchor tables: same number of rows, clean values, and enough rows to center.

    Returns:
        ((k, d_s), (k, d_t)) float64 arrays.
    """
    source_array = as_matrix(source, "source_anchors")
    target_array = as_matrix(target, "target_anchors")
    problems = row_problems(source_array, "source_anchors") + row_problems(target_array, "target_anchors")
    if source_array.shape[0] != target_array.shape[0]:
        problems.append(
            f"anchor tables must have paired rows: source has {source_array.shape[0]}, "
            f"target has {target_array.shape[0]} (join them on id first)"
        )
    if min(source_array.shape[0], target_array.shape[0]) < 3:
        problems.append("at least 3 anchors are needed (centring costs one rank)")
    _raise_all(problems)
    return source_array, target_array


def _raise_all(problems: list[str]) -> None:
    if problems:
        raise ValueError("invalid input:\n  - " + "\n  - ".join(problems))
