"""Unit tests of image decoding: bytes, paths, file:// and memory:// URLs, PIL images, and bad rows by reason."""

from __future__ import annotations

import io
import uuid
from pathlib import Path

import fsspec
import numpy as np
import pytest
from PIL import Image

from pipeline.encoders.images import check_images, decode_images, invalid_image_rows, load_image


def _encode(image: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt)
    return buf.getvalue()


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 256, size=(20, 30, 3), dtype=np.uint8))


@pytest.fixture
def memory_url(photo: Image.Image) -> str:
    # A unique name per test: the memory filesystem is one global store shared by the whole process.
    url = f"memory://irp-tests/{uuid.uuid4().hex}.png"
    fsspec.filesystem("memory").pipe(url, _encode(photo, "PNG"))
    return url


def test_every_source_decodes_to_the_same_pixels(photo: Image.Image, tmp_path: Path, memory_url: str) -> None:
    png = _encode(photo, "PNG")
    path = tmp_path / "a.png"
    path.write_bytes(png)
    sources = [png, bytearray(png), memoryview(png), str(path), path, f"file://{path}", memory_url, photo]
    for source in sources:
        image = load_image(source)
        assert image.mode == "RGB" and image.size == (30, 20)
        np.testing.assert_array_equal(np.asarray(image), np.asarray(photo), err_msg=type(source).__name__)


def test_jpeg_and_non_rgb_modes_become_rgb(photo: Image.Image) -> None:
    assert load_image(_encode(photo, "JPEG")).mode == "RGB"
    for mode in ("L", "RGBA", "P", "CMYK", "I;16"):
        converted = photo.convert("L").convert(mode) if mode == "I;16" else photo.convert(mode)
        fmt = "TIFF" if mode in ("CMYK", "I;16") else "PNG"
        image = load_image(_encode(converted, fmt))
        assert image.mode == "RGB" and image.size == photo.size, mode


def test_sixteen_bit_grayscale_keeps_its_contrast() -> None:
    values = np.array([[0, 256 * 40], [256 * 128 + 7, 65535]], dtype=np.uint16)
    image = load_image(_encode(Image.fromarray(values), "PNG"))
    assert image.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(image)[..., 0], [[0, 40], [128, 255]])


def test_bad_rows_are_named_with_reasons(photo: Image.Image, tmp_path: Path) -> None:
    png = _encode(photo, "PNG")
    jpeg = _encode(photo, "JPEG")
    items = [
        png,
        b"not an image",
        None,
        str(tmp_path / "missing.png"),
        jpeg[: len(jpeg) // 2],
        42,
        b"",
        "memory://irp-tests/absent.png",
        "nosuchproto://x.png",
        str(tmp_path),
        photo,
    ]
    images, bad = decode_images(items)
    assert sorted(bad) == [1, 2, 3, 4, 5, 6, 7, 8, 9]
    assert images[0] is not None and images[10] is not None and all(images[i] is None for i in bad)
    assert bad[1] == "bytes is not in an image format PIL can read"
    assert bad[2] == "null"
    assert "cannot read" in bad[3] and "FileNotFoundError" in bad[3]
    assert "truncated" in bad[4].lower()  # PIL only notices at load(): the decode must be forced
    assert "not an image item (got int)" in bad[5]
    assert bad[6].endswith("empty bytes")
    assert "FileNotFoundError" in bad[7] and "Protocol not known" in bad[8] and "IsADirectoryError" in bad[9]
    assert invalid_image_rows(items) == bad


def test_check_images_raises_naming_rows(photo: Image.Image) -> None:
    good = _encode(photo, "PNG")
    assert len(check_images([good, photo])) == 2
    assert check_images([]) == []
    with pytest.raises(ValueError, match=r"2 of 3 images cannot be decoded, rows \[0, 2\]") as info:
        check_images([None, good, b"junk"])
    assert "row 0: null" in str(info.value) and "invalid_image_rows()" in str(info.value)
    with pytest.raises(TypeError, match="not a single item"):
        check_images(good)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not a single item"):
        decode_images("/some/path.png")  # type: ignore[arg-type]


def test_decompression_bomb_is_a_bad_row(monkeypatch: pytest.MonkeyPatch, photo: Image.Image) -> None:
    # PIL refuses images over twice MAX_IMAGE_PIXELS; a tiny limit stands in for a gigapixel file.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    bad = invalid_image_rows([_encode(photo, "PNG")])
    assert "DecompressionBombError" in bad[0]


def test_long_reasons_are_cut(photo: Image.Image) -> None:
    reason = invalid_image_rows(["memory://irp-tests/" + "x" * 500])[0]
    assert len(reason) < 300 and reason.endswith("...")
