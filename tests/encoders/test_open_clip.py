"""Unit tests of the open_clip image and text encoders on a tiny config registered by the test (random weights).

open_clip has no pretrained weights here, so these tests check the wiring (open_clip's own preprocessing and
tokenizer, shapes, order, normalization) and that vectors are fixed by a checkpoint the test writes itself.
"""

from __future__ import annotations

import io
import json
import uuid
from pathlib import Path

import fsspec
import numpy as np
import open_clip
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from pipeline.encoders import Encoder, build_encoder
from pipeline.encoders.open_clip import (
    OpenCLIPImageEncoder,
    OpenCLIPSpec,
    OpenCLIPTextEncoder,
    build_open_clip_image_encoder,
    build_open_clip_text_encoder,
    preprocess_overrides,
)

TINY = "irp-test-tiny-clip"
DIM = 16
# 1.7M parameters, almost all in the 49,408-token embedding that open_clip's own BPE tokenizer needs; builds in
# a few hundred milliseconds. The 16-token context makes truncation easy to exercise.
TINY_CONFIG = {
    "embed_dim": DIM,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 8},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}
TEXTS = ["a photo of a cat", "dog", "a red car parked by the river on a sunny day", "two birds", "x"]

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Register the tiny config (open_clip names a config after its file) and save one random init of it."""
    folder = tmp_path_factory.mktemp("open-clip")
    (folder / f"{TINY}.json").write_text(json.dumps(TINY_CONFIG))
    open_clip.add_model_config(folder / f"{TINY}.json")
    torch.manual_seed(0)
    model = open_clip.create_model(TINY, pretrained=None)
    torch.save(model.state_dict(), folder / "tiny.pth")
    return folder / "tiny.pth"


@pytest.fixture(scope="module")
def image_encoder(tiny_checkpoint: Path) -> OpenCLIPImageEncoder:
    return OpenCLIPImageEncoder(OpenCLIPSpec(TINY, str(tiny_checkpoint), normalize=False, batch_size=3))


@pytest.fixture(scope="module")
def text_encoder(tiny_checkpoint: Path) -> OpenCLIPTextEncoder:
    return OpenCLIPTextEncoder(OpenCLIPSpec(TINY, str(tiny_checkpoint), normalize=False, batch_size=2))


@pytest.fixture(scope="module")
def images() -> list[bytes]:
    rng = np.random.default_rng(0)
    out = []
    for h, w in [(40, 40), (37, 60), (80, 33), (45, 45), (64, 50)]:
        buf = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)).save(buf, format="PNG")
        out.append(buf.getvalue())
    return out


def _pil(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data)).convert("RGB")


def test_shapes_dtype_and_protocol(
    image_encoder: OpenCLIPImageEncoder, text_encoder: OpenCLIPTextEncoder, images: list[bytes]
) -> None:
    for enc, batch, modality in ((image_encoder, images, "image"), (text_encoder, TEXTS, "text")):
        out = enc.encode(batch)
        assert out.shape == (len(batch), DIM) and out.dtype == np.float32 and np.isfinite(out).all()
        assert enc.dim == DIM and enc.modality == modality and isinstance(enc, Encoder)
        assert enc.encode([]).shape == (0, DIM)
        assert not enc.model.training  # open_clip hands the model back in training mode


def test_rows_follow_input_order_across_batches(
    image_encoder: OpenCLIPImageEncoder, text_encoder: OpenCLIPTextEncoder, images: list[bytes]
) -> None:
    for enc, batch in ((image_encoder, images), (text_encoder, TEXTS)):
        together = enc.encode(batch)
        alone = np.concatenate([enc.encode([item]) for item in batch])
        np.testing.assert_allclose(together, alone, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(enc.encode(batch[::-1]), together[::-1], rtol=1e-5, atol=1e-5)


def test_vectors_match_open_clips_own_pipeline(
    tiny_checkpoint: Path, image_encoder: OpenCLIPImageEncoder, text_encoder: OpenCLIPTextEncoder, images: list[bytes]
) -> None:
    # The reference is open_clip end to end: its factory loading the file, its eval transform, its tokenizer.
    model, _, preprocess = open_clip.create_model_and_transforms(TINY, pretrained=str(tiny_checkpoint))
    model.eval()
    tokenizer = open_clip.get_tokenizer(TINY)
    with torch.inference_mode():
        ref_images = model.encode_image(torch.stack([preprocess(_pil(b)) for b in images])).numpy()
        ref_texts = model.encode_text(tokenizer(TEXTS)).numpy()
    np.testing.assert_allclose(image_encoder.encode(images), ref_images, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(text_encoder.encode(TEXTS), ref_texts, rtol=1e-5, atol=1e-6)
    assert "bicubic" in repr(image_encoder.preprocess) and "CenterCrop(size=(32, 32))" in repr(image_encoder.preprocess)


def test_normalize_gives_unit_rows_in_the_same_direction(
    tiny_checkpoint: Path, image_encoder: OpenCLIPImageEncoder, text_encoder: OpenCLIPTextEncoder, images: list[bytes]
) -> None:
    for cls, raw_enc, batch in (
        (OpenCLIPImageEncoder, image_encoder, images),
        (OpenCLIPTextEncoder, text_encoder, TEXTS),
    ):
        unit = cls(OpenCLIPSpec(TINY, str(tiny_checkpoint))).encode(batch)
        np.testing.assert_allclose(np.linalg.norm(unit, axis=1), 1.0, rtol=1e-5)
        raw = raw_enc.encode(batch)
        np.testing.assert_allclose(unit, raw / np.linalg.norm(raw, axis=1, keepdims=True), rtol=1e-5, atol=1e-6)


def test_bytes_paths_urls_and_pil_images_give_identical_vectors(
    image_encoder: OpenCLIPImageEncoder, images: list[bytes], tmp_path: Path
) -> None:
    paths, urls = [], []
    for i, data in enumerate(images):
        (tmp_path / f"{i}.png").write_bytes(data)
        paths.append(str(tmp_path / f"{i}.png"))
        urls.append(f"memory://irp-tests/{uuid.uuid4().hex}.png")
        fsspec.filesystem("memory").pipe(urls[-1], data)
    reference = image_encoder.encode(images)
    for batch in (paths, [f"file://{p}" for p in paths], urls, [Image.open(io.BytesIO(d)) for d in images]):
        np.testing.assert_array_equal(image_encoder.encode(batch), reference)


def test_bad_rows_are_reported_with_their_rows(
    image_encoder: OpenCLIPImageEncoder, text_encoder: OpenCLIPTextEncoder, images: list[bytes]
) -> None:
    with pytest.raises(ValueError, match=r"2 of 3 images cannot be decoded, rows \[0, 2\]"):
        image_encoder.encode([b"GIF89a-truncated", images[0], "memory://irp-tests/absent.png"])
    with pytest.raises(ValueError, match=r"rows \[1, 2\]"):
        text_encoder.encode(["fine", "  ", None])  # type: ignore[list-item]


def test_long_texts_are_truncated_to_the_context_length(text_encoder: OpenCLIPTextEncoder) -> None:
    long_text = " ".join(["word"] * 200)
    assert text_encoder.tokenizer([long_text]).shape == (1, 16)
    # Truncation keeps the first tokens, so two texts that differ only after them encode identically.
    a, b = text_encoder.encode([long_text + " cat", long_text + " dog"])
    np.testing.assert_array_equal(a, b)


def test_vectors_are_determined_by_the_checkpoint(tiny_checkpoint: Path, images: list[bytes], tmp_path: Path) -> None:
    outs = []
    for seed in (1, 2):  # a different random init each time, which the checkpoint must fully overwrite
        torch.manual_seed(seed)
        enc = OpenCLIPImageEncoder(OpenCLIPSpec(TINY, str(tiny_checkpoint)))
        outs.append(enc.encode(images))
    np.testing.assert_array_equal(outs[0], outs[1])
    save_file(torch.load(tiny_checkpoint, weights_only=True), str(tmp_path / "tiny.safetensors"))
    enc = OpenCLIPImageEncoder(OpenCLIPSpec(TINY, tmp_path / "tiny.safetensors"))
    np.testing.assert_array_equal(enc.encode(images), outs[0])
    torch.manual_seed(3)
    random_init = OpenCLIPImageEncoder(OpenCLIPSpec(TINY)).encode(images)
    assert not np.allclose(random_init, outs[0])


class _Payload:
    """Unpickling this runs Path.touch(marker): the stand-in for a checkpoint that executes code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return (Path.touch, (self.marker,))


def test_checkpoints_load_with_weights_only(tiny_checkpoint: Path, tmp_path: Path) -> None:
    marker = tmp_path / "code-ran"
    state = torch.load(tiny_checkpoint, weights_only=True)
    torch.save({**state, "payload": _Payload(marker)}, tmp_path / "evil.pth")
    with pytest.raises(ValueError, match=r"safely \(weights_only=True\).*Unsupported global"):
        OpenCLIPTextEncoder(OpenCLIPSpec(TINY, str(tmp_path / "evil.pth")))
    assert not marker.exists()
    # A checkpoint that leaves part of the model random is refused rather than silently half-loaded.
    torch.save({k: v for k, v in state.items() if not k.startswith("visual.")}, tmp_path / "text-only.pth")
    with pytest.raises(ValueError, match=r"do not fit open_clip irp-test-tiny-clip.*missing"):
        OpenCLIPImageEncoder(OpenCLIPSpec(TINY, str(tmp_path / "text-only.pth")))


def test_a_tag_gives_a_local_copy_its_preprocessing_and_checks_quick_gelu() -> None:
    # Pure config lookups: open_clip knows every tag's preprocessing without downloading anything.
    siglip = preprocess_overrides("ViT-B-16-SigLIP", "webli")
    assert siglip["image_mean"] == (0.5, 0.5, 0.5) and siglip["image_resize_mode"] == "squash"
    assert preprocess_overrides("ViT-B-32-quickgelu", "openai")["image_resize_mode"] == "shortest"
    assert preprocess_overrides("ViT-B-32", None) == {}
    with pytest.raises(ValueError, match=r"quick_gelu=True.*use model 'ViT-B-32-quickgelu'"):
        preprocess_overrides("ViT-B-32", "openai")


def test_options_are_checked_strictly(tiny_checkpoint: Path) -> None:
    ckpt = str(tiny_checkpoint)
    with pytest.raises(TypeError, match=r"pooling: unknown key; known keys: \[.*'pretrained'"):
        build_open_clip_image_encoder(model=TINY, pooling="mean")
    with pytest.raises(TypeError, match="open_clip_text encoder options:\n  - model: required"):
        build_open_clip_text_encoder(pretrained=ckpt)
    with pytest.raises(ValueError, match="Unknown open_clip model 'no-such-model'"):
        OpenCLIPSpec("no-such-model")
    with pytest.raises(ValueError, match=r"neither a local file nor a tag of 'ViT-B-32'; tags are \['openai'"):
        OpenCLIPSpec("ViT-B/32", pretrained="/no/such/file.pt")
    with pytest.raises(ValueError, match="schema models are not supported"):
        OpenCLIPSpec("hf-hub:laion/CLIP-ViT-B-32-laion2B-s34B-b79K")
    with pytest.raises(ValueError, match="tag only applies when pretrained is a local checkpoint file"):
        OpenCLIPSpec("ViT-B-32", pretrained="laion2b_s34b_b79k", tag="laion2b_s34b_b79k")
    with pytest.raises(ValueError, match="not a pretrained tag"):
        OpenCLIPSpec(TINY, pretrained=ckpt, tag="openai")
    OpenCLIPSpec(TINY, precision="bf16")  # valid as a config: the GPU actor that runs it fills in the device
    with pytest.raises(ValueError, match="needs a CUDA device"):
        build_encoder("open_clip_image", model=TINY, precision="bf16")  # but never run on a CPU
    for bad in ({"batch_size": 0}, {"precision": "fp8"}):
        with pytest.raises(ValueError):
            OpenCLIPSpec(TINY, **bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="normalize"):
        OpenCLIPSpec(TINY, normalize=1)  # type: ignore[arg-type]
    assert OpenCLIPSpec("ViT-B/32").model == "ViT-B-32"


def test_registry_builds_both_towers(tiny_checkpoint: Path, images: list[bytes]) -> None:
    image = build_encoder("open_clip_image", model=TINY, pretrained=str(tiny_checkpoint))
    text = build_encoder("open_clip_text", model=TINY, pretrained=str(tiny_checkpoint))
    assert isinstance(image, OpenCLIPImageEncoder) and isinstance(text, OpenCLIPTextEncoder)
    # Both towers of one checkpoint share a space: the cosine matrix is well defined (and random here).
    cos = image.encode(images[:2]) @ text.encode(TEXTS[:3]).T
    assert cos.shape == (2, 3) and np.all(np.abs(cos) <= 1 + 1e-5)
