"""Hostile images through the real ``embed`` job (MobileNetV2 features) on a local Ray: every file ends in exactly
one place, the table or the quarantine with its reason, and no decompression bomb is ever decoded."""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from pipeline.config import load_config
from pipeline.jobs.embed import EmbedConfig, run_embed

from tests.conftest import records_of

pytestmark = [pytest.mark.timeout(300)]

LIMIT = 1_000_000  # source.max_image_pixels in this job: the bomb below is twice that, in 3 KB


def encoded(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def photo() -> Image.Image:
    return Image.fromarray(np.random.default_rng(0).integers(0, 255, size=(40, 48, 3), dtype=np.uint8))


# file name -> (its bytes, whether it must be quarantined)
CASES: dict[str, tuple[Callable[[], bytes], bool]] = {
    "good.png": (lambda: encoded(photo(), "PNG"), False),
    "truncated.jpg": (lambda: encoded(photo(), "JPEG")[:200], True),
    "not-an-image.png": (lambda: b"\x89PNG\r\n\x1a\n but then plain text", True),
    "one-pixel.png": (lambda: encoded(Image.new("RGB", (1, 1), (200, 10, 10)), "PNG"), False),
    "bomb.png": (lambda: encoded(Image.new("1", (2000, 1000)), "PNG"), True),
    "cmyk.jpg": (lambda: encoded(photo().convert("CMYK"), "JPEG"), False),
    "sixteen-bit.png": (lambda: encoded(Image.fromarray(np.full((30, 30), 40000, np.uint16)), "PNG"), False),
    "empty.png": (lambda: b"", True),
}


@pytest.fixture(scope="module")
def image_run(local_ray, tmp_path_factory) -> tuple[list[str], dict[str, str]]:
    root = tmp_path_factory.mktemp("hostile-images")
    (root / "images").mkdir()
    for name, (make, _) in CASES.items():
        (root / "images" / name).write_bytes(make())
    assert (root / "images" / "bomb.png").stat().st_size < 10_000
    config = load_config(
        EmbedConfig,
        None,
        [
            f"source.path={root / 'images'}",
            "source.format=images",
            f"source.max_image_pixels={LIMIT}",
            "encoder.kind=torch_image",
            "encoder.architecture=mobilenet_v2",
            "encoder.weights=packaged:mobilenet_v2",
            "encoder.image_size=64",
            f"output.path={root / 'out'}",
            "execution.batch_size=4",
        ],
    )
    summary = run_embed(config)
    table = pa.concat_tables(pq.read_table(p) for p in sorted((root / "out").glob("part-*.parquet")))
    quarantined = sorted((records_of(root / "out") / "quarantine").glob("*.parquet"))
    quarantine = pa.concat_tables(pq.read_table(p) for p in quarantined)
    assert (summary.rows_in, summary.rows_out, summary.rows_quarantined) == (
        len(CASES),
        table.num_rows,
        quarantine.num_rows,
    )
    assert np.isfinite(np.stack(table.column("embedding").to_numpy(zero_copy_only=False))).all()
    return table.column("id").to_pylist(), dict(
        zip(quarantine.column("id").to_pylist(), quarantine.column("reason").to_pylist(), strict=True)
    )


@pytest.mark.parametrize("name", CASES)
def test_every_hostile_image_is_embedded_or_quarantined_with_a_reason(image_run, name, tally):
    written, quarantined = image_run
    tally.rows(f"image: {name}", [name], [i for i in written if i == name], [i for i in quarantined if i == name])
    assert (written + list(quarantined)).count(name) == 1  # in exactly one place
    assert (name in quarantined) == CASES[name][1]
    if name in quarantined:
        assert quarantined[name]


def test_the_bomb_is_refused_from_its_header_with_the_configured_limit(image_run):
    assert "2000 x 1000 = 2000000 pixels, over the limit of 1000000" in image_run[1]["bomb.png"]
