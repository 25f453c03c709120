"""The embed job on a folder of images: real MobileNetV2 features, corrupt files quarantined with a reason."""

from __future__ import annotations

import io

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from pipeline.config import load_config
from pipeline.encoders import build_encoder
from pipeline.io.tables import vectors_of
from pipeline.jobs.embed import EmbedConfig, run_embed
from pipeline.packaged import packaged_weights_file

from tests.conftest import records_of

pytestmark = [pytest.mark.timeout(300)]


def png(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 255, size=(40, 48, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def test_image_folder_is_embedded_and_corrupt_files_are_quarantined(local_ray, tmp_path):
    images = tmp_path / "images" / "shelf"
    images.mkdir(parents=True)
    for i in range(3):
        (images / f"{i}.png").write_bytes(png(i))
    (images / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    config = load_config(
        EmbedConfig,
        None,
        [
            f"source.path={tmp_path / 'images'}",
            "source.format=images",
            "encoder.kind=torch_image",
            "encoder.architecture=mobilenet_v2",
            "encoder.weights=packaged:mobilenet_v2",
            "encoder.image_size=64",
            f"output.path={tmp_path / 'out'}",
            "execution.batch_size=2",
        ],
    )
    summary = run_embed(config)
    assert (summary.rows_in, summary.rows_out, summary.rows_quarantined) == (4, 3, 1)
    table = pq.read_table(tmp_path / "out" / "part-00000.parquet")
    assert table.column("id").to_pylist() == ["shelf/0.png", "shelf/1.png", "shelf/2.png"]
    [rejected] = pq.read_table(records_of(tmp_path / "out") / "quarantine" / "part-00000.parquet").to_pylist()
    assert rejected["id"] == "shelf/broken.jpg" and rejected["reason"]
    encoder = build_encoder(
        "torch_image", architecture="mobilenet_v2", image_size=64, weights=str(packaged_weights_file("mobilenet_v2"))
    )
    direct = encoder.encode([png(i) for i in range(3)])
    np.testing.assert_allclose(vectors_of(table.column("embedding")), direct, atol=1e-5)
