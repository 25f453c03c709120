"""Unit tests of the pass-through encoder for stored vectors: shapes, every bad-row reason, and both input paths."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.encoders import Encoder, build_encoder
from pipeline.encoders.inputs import check_vectors, invalid_vector_rows
from pipeline.encoders.precomputed import PrecomputedEncoder, PrecomputedSpec, build_precomputed_encoder

RNG = np.random.default_rng(0)
GOOD = RNG.normal(size=(6, 4))


def _object_column(rows: np.ndarray) -> np.ndarray:
    """``(n,)`` object array holding one 1-D array per row: what Arrow's ``list<float>`` gives numpy."""
    column = np.empty(len(rows), dtype=object)
    for i, row in enumerate(rows):
        column[i] = row
    return column


def test_every_input_form_passes_through_as_float32() -> None:
    enc = PrecomputedEncoder(PrecomputedSpec(dim=4))
    forms = [GOOD, GOOD.astype(np.float16).astype(np.float64), GOOD.tolist(), list(GOOD), _object_column(GOOD)]
    for form in forms:
        out = enc.encode(form)
        assert out.shape == (6, 4) and out.dtype == np.float32 and out.flags.c_contiguous
        np.testing.assert_allclose(out, GOOD, rtol=1e-2 if form is forms[1] else 1e-6)
    ints = enc.encode(np.arange(1, 9).reshape(2, 4))
    assert ints.dtype == np.float32 and ints.tolist() == [[1, 2, 3, 4], [5, 6, 7, 8]]
    assert enc.encode([]).shape == (0, 4) and enc.encode(np.empty((0, 4))).shape == (0, 4)


def test_arrow_vector_columns_convert_with_nulls_found() -> None:
    rows = [[1.0, 2.0], None, [0.0, 0.0], [3.0, float("nan")]]
    for arrow_type in (pa.list_(pa.float32()), pa.list_(pa.float32(), 2)):
        column = pa.array(rows, type=arrow_type).to_numpy(zero_copy_only=False)
        assert invalid_vector_rows(column, 2) == {1: "null", 2: "zero vector", 3: "non-finite value (NaN or inf)"}
        np.testing.assert_array_equal(check_vectors(column[:1], 2), [[1.0, 2.0]])


def test_bad_rows_are_named_with_reasons() -> None:
    rows = [
        GOOD[0],
        None,
        GOOD[0][:3],
        [1.0, np.nan, 0.0, 0.0],
        [0.0] * 4,
        [1e39, 1.0, 1.0, 1.0],
        [[1.0, 2.0], [3.0, 4.0]],
        ["a", "b", "c", "d"],
        [1j, 0, 0, 0],
        [np.inf, 0, 0, 0],
        GOOD[1],
        [1, [2], 3, 4],
    ]
    bad = invalid_vector_rows(rows, 4)
    assert sorted(bad) == [1, 2, 3, 4, 5, 6, 7, 8, 9, 11]
    assert bad[1] == "null"
    assert bad[2] == "has 3 values, expected dim=4"
    assert bad[3] == bad[9] == "non-finite value (NaN or inf)"
    assert bad[4] == "zero vector"
    assert bad[5] == "non-finite value (NaN or inf)"  # beyond float32's range: it would be inf once returned
    assert all(bad[i].startswith("not a flat numeric vector") for i in (6, 7, 8, 11))


def test_a_whole_matrix_of_the_wrong_width_names_every_row() -> None:
    assert invalid_vector_rows(GOOD[:3], 5) == {i: "has 4 values, expected dim=5" for i in range(3)}


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 12),
    dim=st.integers(1, 6),
    damage=st.lists(st.tuples(st.integers(0, 11), st.sampled_from(["nan", "inf", "-inf", "zero"])), max_size=6),
)
def test_the_matrix_and_row_paths_agree(n: int, dim: int, damage: list[tuple[int, str]]) -> None:
    x = np.random.default_rng(n * 7 + dim).normal(size=(n, dim)) + 0.01
    for row, kind in damage:
        if row < n and kind == "zero":
            x[row] = 0.0
        elif row < n:
            x[row, 0] = float(kind)
    fast = invalid_vector_rows(x, dim)  # one 2-D array: vectorized checks
    slow = invalid_vector_rows([list(r) for r in x] + [None], dim)  # a None forces the row-by-row path
    assert slow == {**fast, n: "null"}
    assert list(fast) == sorted(fast)


def test_encode_raises_naming_rows_and_how_to_find_them() -> None:
    enc = PrecomputedEncoder(PrecomputedSpec(dim=4))
    with pytest.raises(ValueError, match=r"2 of 3 vectors cannot be used, rows \[0, 2\]: row 0: null") as info:
        enc.encode([None, GOOD[0], GOOD[0][:2]])
    assert "invalid_vector_rows()" in str(info.value)
    with pytest.raises(TypeError, match="not a string"):
        invalid_vector_rows("1,2,3,4", 4)  # type: ignore[arg-type]


def test_options_are_checked_strictly() -> None:
    with pytest.raises(TypeError, match=r"normalize: unknown key; known keys: \['dim'\]"):
        build_precomputed_encoder(dim=4, normalize=True)
    with pytest.raises(TypeError, match="dim: required"):
        build_precomputed_encoder()
    for bad in (0, -1, 2.0, True, "4"):
        with pytest.raises(ValueError, match="dim must be a positive int"):
            PrecomputedSpec(dim=bad)  # type: ignore[arg-type]


def test_registry_builds_it() -> None:
    enc = build_encoder("precomputed", dim=4)
    assert isinstance(enc, PrecomputedEncoder) and isinstance(enc, Encoder)
    assert enc.modality == "vector" and enc.dim == 4


def test_actors_resolve_packaged_models_and_a_device_only_for_families_that_run_on_one() -> None:
    from pipeline.encoders import resolve_model_options

    assert resolve_model_options("precomputed", {"dim": 4}) == {"dim": 4}  # stored vectors: no device, no model
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_model_options("hf_text", {"model": "/m/minilm"}) == {"model": "/m/minilm", "device": device}
    assert resolve_model_options("hf_text", {"model": "m", "device": "cuda:3"})["device"] == "cuda:3"
