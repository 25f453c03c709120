"""Which texts can be encoded: pure checks shared by the text encoders and the pipeline's quarantine.

No torch or transformers here, so the pipeline can sort good rows from bad ones without loading a model.
"""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.encoders.rows import bad_rows_error


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
            # A blank text still tokenises (to just the special tokens) but its vector means nothing, and a
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
