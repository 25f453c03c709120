"""Turn image items (encoded bytes, paths or URLs, PIL images) into RGB PIL images, and name the ones that fail.

Images reach an encoder as PNG/JPEG bytes from a table column, as paths or URLs read through fsspec (local,
``file://``, ``s3://``, ``memory://``, ...), or as PIL images already decoded. :func:`decode_images` decodes a
batch once and reports every failure with its row, so the pipeline can quarantine bad rows and hand the decoded
images straight to an encoder instead of decoding twice. Nothing here imports torch.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Sequence

import fsspec
import numpy as np
from PIL import Image, UnidentifiedImageError

from pipeline.config import MAX_IMAGE_PIXELS
from pipeline.encoders.inputs import bad_rows_error

__all__ = ["ImageItem", "check_images", "decode_images", "invalid_image_rows", "load_image"]

ImageItem = bytes | bytearray | memoryview | str | os.PathLike | Image.Image
# Exceptions PIL raises for corrupt, truncated or unsupported data. DecompressionBombError (an image far larger
# than PIL's pixel limit) is listed on its own because it is not an OSError.
_DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError)
# fsspec raises OSError for missing or unreadable files, ValueError for an unknown protocol and ImportError when
# the protocol's package (s3fs, gcsfs, ...) is not installed.
_READ_ERRORS = (OSError, ValueError, ImportError)
_REASON_CHARS = 200  # a reason is stored per quarantined row, so long library messages are cut


def _why(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}"


def _cut(reason: str) -> str:
    return reason if len(reason) <= _REASON_CHARS else reason[: _REASON_CHARS - 3] + "..."


def _to_rgb(image: Image.Image) -> Image.Image:
    """Force a full decode and return an RGB image.

    PIL decodes lazily, so a truncated file only fails at ``load()``; calling it here makes the failure land in
    the reported row rather than in the middle of a model batch.
    """
    image.load()
    if image.mode.startswith("I;16"):
        # PIL's convert() clips 16-bit values at 255, which turns a 16-bit grayscale PNG almost white; keep the
        # top 8 bits instead.
        image = Image.fromarray((np.asarray(image, dtype=np.uint16) >> 8).astype(np.uint8))
    # Gray, palette, CMYK and alpha images all become plain 3-channel RGB, which every model here expects. Alpha
    # is dropped, not composited: that is what open_clip's and torchvision's own pipelines do.
    return image if image.mode == "RGB" else image.convert("RGB")


def _decode_bytes(data: bytes | bytearray | memoryview, max_pixels: int) -> Image.Image:
    if len(data) == 0:
        raise ValueError("empty bytes")
    # No `with`: closing a PIL image destroys its pixels, and an in-memory buffer needs no closing.
    image = Image.open(io.BytesIO(data))
    width, height = image.size
    if width * height > max_pixels:
        raise ValueError(
            f"{width} x {height} = {width * height} pixels, over the limit of {max_pixels} "
            "(source.max_image_pixels): not decoded"
        )
    return _to_rgb(image)


def _read(url: str) -> bytes:
    with fsspec.open(url, "rb") as f:
        return f.read()


def load_image(item: ImageItem | None, max_pixels: int = MAX_IMAGE_PIXELS) -> Image.Image:
    """Decode one item into a fully loaded RGB image.

    Args:
        item: Encoded image bytes (PNG, JPEG, anything PIL reads); a local path, ``file://`` or other fsspec URL
            of such a file; or a PIL image.
        max_pixels: encoded images with more pixels than this are refused from their header, undecoded.

    Returns:
        An RGB ``PIL.Image.Image`` of the item's own size.

    Raises:
        ValueError: The item is null, of an unsupported type, unreadable or not a decodable image. The message is
            the reason :func:`invalid_image_rows` reports.
    """
    if item is None:
        raise ValueError("null")
    if isinstance(item, Image.Image):
        try:
            return _to_rgb(item)
        except _DECODE_ERRORS as e:
            raise ValueError(f"PIL image cannot be loaded: {_why(e)}") from e
    if isinstance(item, os.PathLike):
        item = os.fspath(item)
    data: bytes | bytearray | memoryview
    if isinstance(item, str):
        if not item:
            raise ValueError("empty path")
        try:
            data = _read(item)
        except _READ_ERRORS as e:
            raise ValueError(f"cannot read {item!r}: {_why(e)}") from e
        source = f"{item!r}"
    elif isinstance(item, (bytes, bytearray, memoryview)):
        data, source = item, "bytes"
    else:
        raise ValueError(f"not an image item (got {type(item).__name__}); expected bytes, a path/URL or a PIL image")
    try:
        return _decode_bytes(data, max_pixels)
    except UnidentifiedImageError as e:
        # PIL's own message quotes the buffer's memory address; a reason must be the same on every run, because
        # it is written to the quarantine table of an idempotent job.
        raise ValueError(f"{source} is not in an image format PIL can read") from e
    except _DECODE_ERRORS as e:
        raise ValueError(f"{source} is not a decodable image: {_why(e)}") from e


def _require_sequence(items: object) -> None:
    if isinstance(items, (str, bytes, bytearray, memoryview, os.PathLike, Image.Image)):
        raise TypeError("images must be a sequence of items, not a single item; wrap it in a list.")


def decode_images(
    items: Sequence[ImageItem | None], max_pixels: int = MAX_IMAGE_PIXELS
) -> tuple[list[Image.Image | None], dict[int, str]]:
    """Decode a batch, keeping going past failures.

    Args:
        items: ``n`` image items (see :func:`load_image`).
        max_pixels: the largest image decoded (see :func:`load_image`).

    Returns:
        ``(images, bad)``: ``images[i]`` is the RGB image of row ``i``, or ``None`` where row ``i`` failed;
        ``bad`` is ``{row index: reason}`` in row order (each reason at most 200 characters), empty when every
        row decoded.

    Raises:
        TypeError: ``items`` is a single item rather than a sequence of them.
    """
    _require_sequence(items)
    images: list[Image.Image | None] = []
    bad: dict[int, str] = {}
    for i, item in enumerate(items):
        try:
            images.append(load_image(item, max_pixels))
        except ValueError as e:
            images.append(None)
            bad[i] = _cut(str(e))
    return images, bad


def invalid_image_rows(items: Sequence[ImageItem | None]) -> dict[int, str]:
    """Rows that cannot be decoded, with the reason for each: ``{row index: reason}``, empty if none.

    This decodes every row; a caller that will encode the good rows should call :func:`decode_images` instead
    and pass the decoded images on.
    """
    return decode_images(items)[1]


def check_images(items: Sequence[ImageItem | None]) -> list[Image.Image]:
    """Decode a batch that must be entirely valid.

    Returns:
        ``n`` RGB images, row ``i`` for ``items[i]``.

    Raises:
        TypeError: ``items`` is a single item rather than a sequence of them.
        ValueError: Some rows cannot be decoded; the message names their indices and reasons.
    """
    images, bad = decode_images(items)
    if bad:
        raise bad_rows_error(bad, len(items), "images cannot be decoded", "invalid_image_rows")
    return images  # type: ignore[return-value]  # no None is left once bad is empty


def encode_in_batches(
    items: Sequence[ImageItem], dim: int, batch_size: int, forward: Callable[[list[Image.Image]], np.ndarray]
) -> np.ndarray:
    """Decode a batch that must be entirely valid, then run ``forward`` on ``batch_size`` images at a time.

    Args:
        items: ``n`` images as bytes, paths/URLs or PIL images.
        dim: width of ``forward``'s output rows.
        batch_size: images per ``forward`` call.
        forward: ``m`` RGB images -> ``(m, dim)`` vectors.

    Returns:
        ``(n, dim)`` float32, row ``i`` for ``items[i]``.
    """
    decoded = check_images(items)
    out = np.empty((len(decoded), dim), dtype=np.float32)
    for start in range(0, len(decoded), batch_size):
        chunk = decoded[start : start + batch_size]
        out[start : start + len(chunk)] = forward(chunk)
    return out
