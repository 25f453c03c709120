"""Unit tests of the torchvision backbone encoder on random-weight models saved to, and loaded from, tmp files."""

from __future__ import annotations

import io
import uuid
from pathlib import Path

import fsspec
import numpy as np
import pytest
import torch
import torchvision
from PIL import Image
from safetensors.torch import save_file

from pipeline.encoders import Encoder, build_encoder
from pipeline.encoders.torch_image import (
    BACKBONES,
    TorchImageEncoder,
    TorchImageSpec,
    build_torch_image_encoder,
    imagenet_eval_transform,
    list_backbones,
)
from pipeline.encoders.weights import load_state_dict_file

SIZE = 32  # the smallest crop these networks accept; keeps every forward pass in milliseconds

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def images() -> list[bytes]:
    """Seven PNGs of different sizes and aspect ratios, so resize and crop both do real work."""
    rng = np.random.default_rng(0)
    shapes = [(40, 40), (37, 60), (80, 33), (45, 45), (64, 50), (33, 33), (90, 70)]
    return [_png(rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)) for h, w in shapes]


@pytest.fixture(scope="module")
def resnet_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "resnet18.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    return path


@pytest.fixture(scope="module")
def encoder(resnet_weights: Path) -> TorchImageEncoder:
    return TorchImageEncoder(
        TorchImageSpec("resnet18", str(resnet_weights), image_size=SIZE, normalize=False, batch_size=3)
    )


def test_shape_dtype_and_protocol(encoder: TorchImageEncoder, images: list[bytes]) -> None:
    out = encoder.encode(images)
    assert out.shape == (len(images), 512) and out.dtype == np.float32 and np.isfinite(out).all()
    assert encoder.dim == 512 and encoder.modality == "image" and isinstance(encoder, Encoder)
    assert encoder.encode([]).shape == (0, 512)
    assert not encoder.model.training and not encoder.features.training


def test_rows_follow_input_order_across_batches(encoder: TorchImageEncoder, images: list[bytes]) -> None:
    together = encoder.encode(images)  # batches of 3, 3 and 1
    alone = np.concatenate([encoder.encode([item]) for item in images])
    np.testing.assert_allclose(together, alone, rtol=1e-5, atol=1e-5)
    reversed_rows = encoder.encode(images[::-1])
    np.testing.assert_allclose(reversed_rows, together[::-1], rtol=1e-5, atol=1e-5)


def test_head_on_features_gives_the_models_own_logits(encoder: TorchImageEncoder, images: list[bytes]) -> None:
    features = torch.from_numpy(encoder.encode(images))
    pixels = encoder.pixels([Image.open(io.BytesIO(item)).convert("RGB") for item in images])
    with torch.inference_mode():
        torch.testing.assert_close(encoder.head(features), encoder.model(pixels), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("arch", ["mobilenet_v2", "mobilenet_v3_small", "efficientnet_b0", "resnet18"])
def test_every_cut_rule_splits_the_model_exactly(arch: str) -> None:
    torch.manual_seed(0)
    model = torchvision.models.get_model(arch, weights=None).eval()
    backbone = BACKBONES[arch](model)
    x = torch.randn(2, 3, SIZE, SIZE)
    with torch.inference_mode():
        features = backbone.features(x)
        assert features.shape == (2, backbone.dim)
        torch.testing.assert_close(backbone.head(features), model(x), rtol=1e-5, atol=1e-5)


def test_normalize_gives_unit_rows_in_the_same_direction(
    resnet_weights: Path, encoder: TorchImageEncoder, images: list[bytes]
) -> None:
    unit = TorchImageEncoder(TorchImageSpec("resnet18", resnet_weights, image_size=SIZE)).encode(images)
    np.testing.assert_allclose(np.linalg.norm(unit, axis=1), 1.0, rtol=1e-5)
    raw = encoder.encode(images)
    np.testing.assert_allclose(unit, raw / np.linalg.norm(raw, axis=1, keepdims=True), rtol=1e-5, atol=1e-6)


def test_bytes_paths_urls_and_pil_images_give_identical_vectors(
    encoder: TorchImageEncoder, images: list[bytes], tmp_path: Path
) -> None:
    paths, urls = [], []
    for i, data in enumerate(images[:3]):
        (tmp_path / f"{i}.png").write_bytes(data)
        paths.append(str(tmp_path / f"{i}.png"))
        urls.append(f"memory://irp-tests/{uuid.uuid4().hex}.png")
        fsspec.filesystem("memory").pipe(urls[-1], data)
    pils = [Image.open(io.BytesIO(data)) for data in images[:3]]
    reference = encoder.encode(images[:3])
    for batch in (paths, [f"file://{p}" for p in paths], urls, pils):
        np.testing.assert_array_equal(encoder.encode(batch), reference)


def test_corrupt_images_are_reported_with_their_rows(encoder: TorchImageEncoder, images: list[bytes]) -> None:
    with pytest.raises(ValueError, match=r"2 of 4 images cannot be decoded, rows \[1, 3\]") as info:
        encoder.encode([images[0], b"\x89PNG but not really", images[1], None])
    assert "row 3: null" in str(info.value)


def test_vectors_are_determined_by_the_checkpoint(resnet_weights: Path, images: list[bytes], tmp_path: Path) -> None:
    outs = []
    for seed in (1, 2):  # a different random init each time, which the loaded weights must fully overwrite
        torch.manual_seed(seed)
        outs.append(TorchImageEncoder(TorchImageSpec("resnet18", resnet_weights, image_size=SIZE)).encode(images))
    np.testing.assert_array_equal(outs[0], outs[1])
    # The same weights as safetensors, and wrapped the way training scripts save them, load identically.
    state = torch.load(resnet_weights, weights_only=True)
    save_file(state, str(tmp_path / "r18.safetensors"))
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}, "epoch": 3}, tmp_path / "wrapped.pt")
    for other in (tmp_path / "r18.safetensors", tmp_path / "wrapped.pt"):
        enc = TorchImageEncoder(TorchImageSpec("resnet18", other, image_size=SIZE))
        np.testing.assert_array_equal(enc.encode(images), outs[0])


class _Payload:
    """Unpickling this runs Path.touch(marker): the stand-in for a checkpoint that executes code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return (Path.touch, (self.marker,))


def test_weights_are_never_fully_unpickled(tmp_path: Path) -> None:
    marker = tmp_path / "code-ran"
    evil = tmp_path / "evil.pth"
    torch.save({"conv1.weight": torch.zeros(1), "payload": _Payload(marker)}, evil)
    with pytest.raises(ValueError, match=r"safely \(weights_only=True\).*Unsupported global.*re-save it") as info:
        load_state_dict_file(evil)
    assert "weights_only=False" not in str(info.value)
    assert not marker.exists()
    with pytest.raises(ValueError, match="safely"):
        TorchImageEncoder(TorchImageSpec("resnet18", evil, image_size=SIZE))
    assert not marker.exists()


def test_weight_file_problems_say_what_is_wrong(resnet_weights: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        load_state_dict_file(tmp_path / "nope.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="safely"):
        load_state_dict_file(tmp_path / "junk.pth")
    torch.save({"a": 1}, tmp_path / "ints.pth")
    with pytest.raises(ValueError, match=r"not named tensors"):
        load_state_dict_file(tmp_path / "ints.pth")
    # ResNet18 weights in a ResNet34 leave layers random: refused, not warned about.
    with pytest.raises(ValueError, match=r"do not fit resnet34.*missing"):
        TorchImageEncoder(TorchImageSpec("resnet34", resnet_weights, image_size=SIZE))
    torch.save(torchvision.models.mobilenet_v3_small(weights=None).state_dict(), tmp_path / "mv3s.pth")
    with pytest.raises(ValueError, match=r"do not fit mobilenet_v3_large.*wrong shape"):
        TorchImageEncoder(TorchImageSpec("mobilenet_v3_large", tmp_path / "mv3s.pth", image_size=SIZE))


def test_preprocessing_is_torchvisions_own_imagenet_recipe() -> None:
    image = Image.fromarray(np.random.default_rng(1).integers(0, 256, size=(300, 400, 3), dtype=np.uint8))
    for weights in (
        torchvision.models.MobileNet_V2_Weights.IMAGENET1K_V1,
        torchvision.models.ResNet18_Weights.IMAGENET1K_V1,
    ):
        torch.testing.assert_close(imagenet_eval_transform(224)(image), weights.transforms()(image))


def test_options_are_checked_strictly(resnet_weights: Path) -> None:
    with pytest.raises(TypeError, match=r"pooling: unknown key; known keys: \[.*'image_size'"):
        build_torch_image_encoder(architecture="resnet18", weights=str(resnet_weights), pooling="mean")
    with pytest.raises(TypeError, match="weights: required"):
        build_torch_image_encoder(architecture="resnet18")
    with pytest.raises(ValueError, match=r"Unsupported torch_image architecture 'vgg16'.*'mobilenet_v2'"):
        TorchImageSpec("vgg16", str(resnet_weights))
    TorchImageSpec("resnet18", str(resnet_weights), precision="bf16")  # valid as a config, for a GPU actor
    with pytest.raises(ValueError, match="needs a CUDA device"):
        build_torch_image_encoder(architecture="resnet18", weights=str(resnet_weights), precision="bf16")
    for bad in ({"image_size": 16}, {"batch_size": 0}, {"precision": "fp64"}):
        with pytest.raises(ValueError):
            TorchImageSpec("resnet18", str(resnet_weights), **bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="normalize"):
        TorchImageSpec("resnet18", str(resnet_weights), normalize="yes")  # type: ignore[arg-type]
    assert "mobilenet_v2" in list_backbones() and list_backbones() == sorted(BACKBONES)


def test_registry_builds_it(resnet_weights: Path, images: list[bytes]) -> None:
    enc = build_encoder("torch_image", architecture="resnet18", weights=str(resnet_weights), image_size=SIZE)
    assert isinstance(enc, TorchImageEncoder) and enc.encode(images[:2]).shape == (2, 512)
