"""Paragraphs of a document as anchor items of their own (pipeline.io.passages)."""

from __future__ import annotations

import numpy as np

from pipeline.io.passages import owner_of, owners_in, paragraphs, passage_rows


def test_paragraphs_split_on_blank_lines_and_drop_short_pieces():
    text = (
        "  First paragraph, which runs\nonto a second line of the same paragraph.\r\n\t\r\n"
        "Dateline\n\n\nSecond paragraph, after two blank lines and long enough.   \n\n"
    )
    assert paragraphs(text) == [
        "First paragraph, which runs\nonto a second line of the same paragraph.",
        "Second paragraph, after two blank lines and long enough.",
    ]
    assert paragraphs(text, min_chars=5) == [
        "First paragraph, which runs\nonto a second line of the same paragraph.",
        "Dateline",
        "Second paragraph, after two blank lines and long enough.",
    ]
    assert paragraphs("") == [] and paragraphs("one line that is long enough to be a paragraph") == [
        "one line that is long enough to be a paragraph"
    ]


def test_passage_ids_name_their_document_and_place_and_lead_back_to_it():
    ids, texts = passage_rows(
        ["x#p1.txt", "empty", "none", 7], ["a" * 50 + "\n\n" + "short\n\n" + "b" * 40, "", None, "c" * 45]
    )
    assert ids == ["x#p1.txt#p0", "x#p1.txt#p1", "7#p0"] and texts == ["a" * 50, "b" * 40, "c" * 45]
    assert [owner_of(i) for i in ids] == ["x#p1.txt", "x#p1.txt", "7"]  # a document id may hold the mark itself
    kept, owners = owners_in([*ids, "gone#p0"], ["other", 7, "x#p1.txt"])
    np.testing.assert_array_equal(kept, [0, 1, 2])  # the passage of a document not listed is left out
    np.testing.assert_array_equal(owners, [2, 2, 1])
    kept, owners = owners_in([], ["a"])
    assert kept.dtype == owners.dtype == np.int64 and len(kept) == len(owners) == 0
