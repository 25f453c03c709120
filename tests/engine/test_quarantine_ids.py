"""Ids a reader let through as invalid UTF-8: escaped so they can be named, each with its reason."""

from __future__ import annotations

import pyarrow as pa

from pipeline.engine.quarantine import readable_ids


def test_invalid_utf8_ids_are_escaped_and_named_and_valid_ones_untouched():
    raw = pa.array([b"ok", b"caf\xe9", None, b"\xff\xfeab"], pa.binary()).cast(pa.string(), safe=False)
    ids, bad = readable_ids(raw)
    assert ids.to_pylist() == ["ok", "caf\\xe9", None, "\\xff\\xfeab"]
    assert bad == {
        1: "id is not valid UTF-8 (byte 0xe9 at offset 3)",
        3: "id is not valid UTF-8 (byte 0xff at offset 0)",
    }
    clean = pa.array(["a", "b"])
    assert readable_ids(clean) == (clean, {})
    numbers = pa.array([1, 2])
    assert readable_ids(numbers) == (numbers, {})
