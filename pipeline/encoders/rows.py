"""Row-level problems of an encoder batch, reported the same way by every encoder family."""

from __future__ import annotations

from collections.abc import Mapping

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
