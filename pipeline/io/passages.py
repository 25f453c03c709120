"""A document's paragraphs as anchor items of their own: more pairs from the same anchor documents.

A translator fitted on whole anchor documents has seen one pair per document. Each paragraph, embedded by both
models, is another pair from the same item: about five per BBC News article, shorter and nearer a query in
length. A paragraph's id is its document's id, ``#p`` and its place among the document's kept paragraphs
(``business/001.txt#p0``), so a paragraph can be traced to its document and kept out of a held-out set with it.
Pure: no IO (pipeline.io.passage_files writes them).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

PASSAGE_MARK = "#p"  # between a document's id and the paragraph's place: "<id>#p<k>"
MIN_PASSAGE_CHARS = 40  # shorter paragraphs are datelines, bylines and captions, not content
_BLANK_LINE = re.compile(r"\n[ \t\r\f\v]*\n")


def paragraphs(text: str, min_chars: int = MIN_PASSAGE_CHARS) -> list[str]:
    """The blank-line separated paragraphs of ``text``, stripped, of at least ``min_chars`` characters."""
    return [piece.strip() for piece in _BLANK_LINE.split(text) if len(piece.strip()) >= min_chars]


def passage_rows(
    ids: Sequence[str], texts: Sequence[str | None], min_chars: int = MIN_PASSAGE_CHARS
) -> tuple[list[str], list[str]]:
    """``(passage ids, passage texts)`` of every document, in document order; a missing text has none."""
    passage_ids, passage_texts = [], []
    for document, text in zip(ids, texts, strict=True):
        for place, piece in enumerate(paragraphs(text or "", min_chars)):
            passage_ids.append(f"{document}{PASSAGE_MARK}{place}")
            passage_texts.append(piece)
    return passage_ids, passage_texts


def owner_of(passage_id: str) -> str:
    """The id of the document a passage id was cut from."""
    return passage_id.rsplit(PASSAGE_MARK, 1)[0]


def owners_in(passage_ids: Sequence[str], document_ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """``(kept (m,) passage positions, owners (m,) document positions)`` of the passages whose document is listed.

    A passage whose document is not among ``document_ids`` (set aside by an encoder, say) is left out.
    """
    position = {str(document): i for i, document in enumerate(document_ids)}  # passage ids are text
    pairs = [(i, position[owner_of(p)]) for i, p in enumerate(passage_ids) if owner_of(p) in position]
    kept, owners = zip(*pairs, strict=True) if pairs else ((), ())
    return np.array(kept, dtype=np.int64), np.array(owners, dtype=np.int64)
