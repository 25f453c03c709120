"""The torch_image encoder on the packaged ImageNet MobileNetV2 and two real photos (scikit-learn's samples).

Checks that our cut, preprocessing and weight loading are torchvision's own: the model's classifier applied to
our 1280-d features reproduces the logits of the whole torchvision model run with torchvision's published
transform, and those logits name what is in the photos.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

from pipeline.encoders import build_encoder
from pipeline.encoders.torch_image import TorchImageEncoder
from pipeline.packaged import packaged_weights_file

pytestmark = pytest.mark.real

_WEIGHTS = torchvision.models.MobileNet_V2_Weights.IMAGENET1K_V1  # metadata only: categories and transform


@pytest.fixture(scope="module")
def photos() -> dict[str, Path]:
    from sklearn.datasets import load_sample_images

    return {Path(f).name: Path(f) for f in load_sample_images().filenames}


@pytest.fixture(scope="module")
def encoder() -> TorchImageEncoder:
    weights = str(packaged_weights_file("mobilenet_v2"))
    enc = build_encoder("torch_image", architecture="mobilenet_v2", weights=weights, normalize=False)
    assert isinstance(enc, TorchImageEncoder)
    return enc


def _top5(logits: torch.Tensor) -> list[str]:
    categories = _WEIGHTS.meta["categories"]
    return [categories[i] for i in logits.topk(5).indices.tolist()]


def test_classifier_on_our_features_gives_torchvisions_logits(
    encoder: TorchImageEncoder, photos: dict[str, Path]
) -> None:
    names = sorted(photos)
    features = encoder.encode([photos[n].read_bytes() for n in names])  # JPEG bytes, decoded by us
    assert features.shape == (2, 1280) and features.dtype == np.float32
    reference = torchvision.models.mobilenet_v2(weights=None)
    reference.load_state_dict(torch.load(packaged_weights_file("mobilenet_v2"), weights_only=True))
    reference.eval()
    pixels = torch.stack([_WEIGHTS.transforms()(Image.open(photos[n]).convert("RGB")) for n in names])
    with torch.inference_mode():
        expected = reference(pixels)
        ours = reference.classifier(torch.from_numpy(features))
    torch.testing.assert_close(ours, expected, rtol=1e-4, atol=1e-4)


def test_the_photos_get_sensible_imagenet_classes(encoder: TorchImageEncoder, photos: dict[str, Path]) -> None:
    features = torch.from_numpy(encoder.encode([str(photos["china.jpg"]), str(photos["flower.jpg"])]))
    with torch.inference_mode():
        china, flower = (_top5(row) for row in encoder.head(features))
    # china.jpg is a Chinese temple hall; observed top-5 with these weights: palace, monastery, stupa, bell cote,
    # boathouse.
    assert china[0] == "palace" and {"monastery", "stupa"} <= set(china), china
    # flower.jpg is an orange pompon dahlia seen from above. ImageNet has no dahlia class; its packed petals look
    # like a honeycomb to the model (observed: honeycomb 0.51, then mushroom, hen-of-the-woods, matchstick,
    # earthstar). Nothing architectural may appear.
    assert flower[0] == "honeycomb" and not set(flower) & set(china), flower


def test_bytes_and_paths_give_identical_real_features(encoder: TorchImageEncoder, photos: dict[str, Path]) -> None:
    path = photos["china.jpg"]
    np.testing.assert_array_equal(encoder.encode([path.read_bytes()]), encoder.encode([str(path)]))
