"""Encode images or texts with an open_clip model, using open_clip's own eval preprocessing and tokenizer.

Both encoders load the same way (:func:`load_open_clip`): a model name from ``open_clip.list_models()``, and
weights from a ``pretrained`` tag that open_clip resolves or a local checkpoint file.
Local checkpoints are read by :mod:`pipeline.encoders.weights` with ``weights_only=True`` and loaded strictly:
open_clip 3.3's own loader retries with a full unpickle when the safe load raises TypeError, which we never want.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import open_clip
import torch
import torch.nn.functional as F
from PIL import Image

from pipeline.encoders.images import ImageItem, encode_in_batches
from pipeline.encoders.inputs import check_texts
from pipeline.encoders.specs import (
    Precision,
    check_precision,
    is_int,
    require_cuda_for,
    resolve_precision,
    spec_from_options,
)
from pipeline.encoders.weights import load_state_dict_file, load_weights_into

__all__ = [
    "OpenCLIPImageEncoder",
    "OpenCLIPSpec",
    "OpenCLIPTextEncoder",
    "build_open_clip_image_encoder",
    "build_open_clip_text_encoder",
    "load_open_clip",
    "preprocess_overrides",
]


class CLIPModel(Protocol):
    """What the encoders use of an open_clip model (a ``torch.nn.Module``; open_clip ships no type information)."""

    training: bool

    def encode_image(self, image: torch.Tensor) -> torch.Tensor: ...

    def encode_text(self, text: torch.Tensor) -> torch.Tensor: ...


@dataclass(frozen=True)
class OpenCLIPSpec:
    """Which open_clip model to load, with which weights, and how to run it.

    Attributes:
        model: An architecture in ``open_clip.list_models()`` (``"ViT-B/32"`` is stored as ``"ViT-B-32"``, as
            open_clip spells it). Register other configs with ``open_clip.add_model_config``.
        pretrained: A pretrained tag of ``model`` (``open_clip.list_pretrained_tags_by_model``; open_clip fetches
            it, or finds it in the Hugging Face cache when offline), or a local checkpoint file (a state dict,
            ``.pth`` or ``.safetensors``, as open_clip's Hugging Face repositories ship them; OpenAI's original
            TorchScript ``.pt`` files must be re-saved as a state dict first). ``None`` keeps random weights: for
            tests only.
        tag: When ``pretrained`` is a local copy of a published tag's weights, that tag. open_clip takes a tag's
            preprocessing (mean, std, interpolation, resize mode) from the tag, never from the model config, so a
            local SigLIP checkpoint without its tag would be fed OpenAI-normalized, center-cropped pixels. The
            tag's QuickGELU setting is also checked against the model's (``ViT-B-32`` vs ``ViT-B-32-quickgelu``).
        normalize: L2-normalize each output row.
        batch_size: Items per forward pass.
        device: Torch device string, e.g. ``"cpu"`` or ``"cuda:0"``.
        precision: ``"fp32"``, or ``"bf16"``/``"fp16"`` on CUDA (open_clip's mixed precision: low-precision
            weights, LayerNorms in fp32); ``"auto"`` is bf16 on CUDA and fp32 elsewhere.
    """

    model: str
    pretrained: str | None = None
    tag: str | None = None
    normalize: bool = True
    batch_size: int = 64
    device: str = "cpu"
    precision: Precision = "fp32"

    def __post_init__(self) -> None:
        if isinstance(self.pretrained, os.PathLike):
            # Stored as str so that specs compare, hash and serialize the same however the path was given.
            object.__setattr__(self, "pretrained", os.fspath(self.pretrained))
        if not isinstance(self.model, str) or not self.model:
            raise TypeError(f"model must be an open_clip model name (a non-empty str), got {self.model!r}.")
        if ":" not in self.model:  # leave schema names (hf-hub:org/repo) intact for the error below
            object.__setattr__(self, "model", self.model.replace("/", "-"))
        for name in ("pretrained", "tag"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value):
                raise TypeError(f"{name} must be a non-empty str or null, got {value!r}.")
        if not isinstance(self.normalize, bool):
            raise TypeError(f"normalize must be true or false, got {self.normalize!r}.")
        if not is_int(self.batch_size) or self.batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {self.batch_size!r}.")
        check_precision(self.precision)
        _check_source(self.model, self.pretrained, self.tag)


def _check_source(model: str, pretrained: str | None, tag: str | None) -> None:
    """Reject, before anything loads, a model, ``pretrained`` or ``tag`` that can only fail or mislead."""
    if model.startswith(("hf-hub:", "local-dir:")):
        raise ValueError(
            f"model {model!r}: schema models are not supported (open_clip would load their weights "
            "with its own loader). Pass the architecture name as model and the weights file as "
            "pretrained, with tag naming the published weights it holds."
        )
    if model not in open_clip.list_models():
        raise ValueError(
            f"Unknown open_clip model {model!r}. Choose one of open_clip.list_models(), or register a "
            "config with open_clip.add_model_config()."
        )
    tags = open_clip.list_pretrained_tags_by_model(model)
    is_file = pretrained is not None and os.path.isfile(pretrained)
    if pretrained is not None and not is_file and pretrained not in tags:
        raise ValueError(f"pretrained {pretrained!r} is neither a local file nor a tag of {model!r}; tags are {tags}.")
    if tag is not None and not is_file:
        raise ValueError(f"tag only applies when pretrained is a local checkpoint file; got pretrained={pretrained!r}.")
    if tag is not None and tag not in tags:
        raise ValueError(f"tag {tag!r} is not a pretrained tag of {model!r}; tags are {tags}.")
    preprocess_overrides(model, tag)  # raises now, before any weights load, on a QuickGELU mismatch


def preprocess_overrides(model: str, tag: str | None) -> dict[str, Any]:
    """``create_model_and_transforms`` keywords that give a local copy of ``tag``'s weights its own preprocessing.

    Raises:
        ValueError: The tag was trained with QuickGELU and ``model`` does not use it, or the reverse: every
            vector would be silently wrong.
    """
    if tag is None:
        return {}
    cfg = open_clip.get_pretrained_cfg(model, tag)
    model_gelu = bool(open_clip.get_model_config(model).get("quick_gelu", False))
    if bool(cfg.get("quick_gelu", False)) != model_gelu:
        hint = f"{model}-quickgelu" if not model_gelu else model.removesuffix("-quickgelu")
        raise ValueError(
            f"tag {tag!r} was trained with quick_gelu={not model_gelu} but model {model!r} has "
            f"quick_gelu={model_gelu}; use model {hint!r}."
        )
    keys = {
        "mean": "image_mean",
        "std": "image_std",
        "interpolation": "image_interpolation",
        "resize_mode": "image_resize_mode",
    }
    return {arg: cfg[key] for key, arg in keys.items() if key in cfg}


def load_open_clip(spec: OpenCLIPSpec) -> tuple[CLIPModel, Callable[[Image.Image], torch.Tensor], int]:
    """Build the model with its weights, in eval mode on ``spec.device``.

    Returns:
        ``(model, preprocess, dim)``: the CLIP model; open_clip's eval transform, RGB PIL image ->
        ``(3, s, s)`` float32; and the width of the shared embedding space.

    Raises:
        ValueError: The checkpoint is missing, unsafe to unpickle, or does not fit the architecture.
    """
    require_cuda_for(spec.precision, spec.device)
    precision = resolve_precision(spec.precision, spec.device)
    checkpoint = spec.pretrained if spec.pretrained is not None and os.path.isfile(spec.pretrained) else None
    is_file = checkpoint is not None
    model, _, preprocess = open_clip.create_model_and_transforms(
        spec.model,
        pretrained=None if is_file else spec.pretrained,
        precision=precision,
        device=spec.device,
        # Hugging Face text towers would otherwise fetch their base weights whenever no CLIP checkpoint is given
        # to open_clip, including when we load our own checkpoint right after.
        pretrained_text=False,
        weights_only=True,
        **preprocess_overrides(spec.model, spec.tag),
    )
    if checkpoint is not None:
        load_weights_into(model, load_state_dict_file(checkpoint), f"open_clip {spec.model} from {checkpoint!r}")
    # open_clip returns the model in training mode, where dropout and patch dropout would make vectors random.
    model.eval()
    config = open_clip.get_model_config(spec.model)
    return model, preprocess, int(config["embed_dim"])


def _forward_dtype(spec: OpenCLIPSpec) -> torch.dtype:
    # Image input must match the low-precision conv weights; open_clip's training script casts it the same way.
    return open_clip.get_input_dtype(resolve_precision(spec.precision, spec.device)) or torch.float32


def _finish(vectors: torch.Tensor, normalize: bool) -> np.ndarray:
    """``(b, dim)`` in any dtype/device -> float32 numpy, normalized in float32 so bf16 rounding stays out of it."""
    vectors = vectors.float()
    if normalize:
        vectors = F.normalize(vectors, p=2.0, dim=1)
    return vectors.cpu().numpy()


class OpenCLIPImageEncoder:
    """The image tower of an open_clip model, satisfying :class:`pipeline.encoders.Encoder`.

    Attributes:
        spec: What was loaded.
        dim: Width of the CLIP embedding space.
        model: The whole CLIP model (both towers), in eval mode.
        preprocess: open_clip's eval transform for this model: RGB PIL image -> ``(3, s, s)`` float32.
    """

    modality = "image"

    def __init__(self, spec: OpenCLIPSpec) -> None:
        self.spec = spec
        self.model, self.preprocess, self.dim = load_open_clip(spec)

    def encode(self, images: Sequence[ImageItem], /) -> np.ndarray:
        """Encode images.

        Args:
            images: ``n`` items: encoded bytes, paths/URLs or PIL images (see
                :func:`~pipeline.encoders.images.load_image`).

        Returns:
            ``(n, dim)`` float32, row ``i`` for ``images[i]``.

        Raises:
            ValueError: Some rows cannot be decoded (see :func:`~pipeline.encoders.images.invalid_image_rows`).
        """
        return encode_in_batches(
            images,
            self.dim,
            self.spec.batch_size,
            lambda chunk: self._forward(torch.stack([self.preprocess(im) for im in chunk])),
        )

    @torch.inference_mode()
    def _forward(self, pixels: torch.Tensor) -> np.ndarray:
        """``pixels: (b, 3, s, s)`` -> ``(b, dim)`` float32."""
        pixels = pixels.to(self.spec.device, dtype=_forward_dtype(self.spec))
        return _finish(self.model.encode_image(pixels), self.spec.normalize)


class OpenCLIPTextEncoder:
    """The text tower of an open_clip model, satisfying :class:`pipeline.encoders.Encoder`.

    Attributes:
        spec: What was loaded.
        dim: Width of the CLIP embedding space.
        model: The whole CLIP model (both towers), in eval mode.
        tokenizer: ``open_clip.get_tokenizer(model)``: ``n`` texts -> ``(n, context_length)`` int64 token ids,
            truncated and padded to the model's fixed context length.
    """

    modality = "text"

    def __init__(self, spec: OpenCLIPSpec) -> None:
        self.spec = spec
        self.model, _, self.dim = load_open_clip(spec)
        self.tokenizer = open_clip.get_tokenizer(spec.model)

    def encode(self, texts: Sequence[str], /) -> np.ndarray:
        """Encode texts.

        Args:
            texts: ``n`` non-blank strings; longer ones are truncated to the model's context length.

        Returns:
            ``(n, dim)`` float32, row ``i`` for ``texts[i]``.

        Raises:
            ValueError: Some rows are not non-blank strings (see :func:`pipeline.encoders.hf_text.
                invalid_text_rows`).
        """
        check_texts(texts)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        # Every text pads to the same fixed context length, so batching by length would save nothing here.
        for start in range(0, len(texts), self.spec.batch_size):
            chunk = list(texts[start : start + self.spec.batch_size])
            out[start : start + len(chunk)] = self._forward(self.tokenizer(chunk))
        return out

    @torch.inference_mode()
    def _forward(self, tokens: torch.Tensor) -> np.ndarray:
        """``tokens: (b, context_length)`` int64 -> ``(b, dim)`` float32."""
        return _finish(self.model.encode_text(tokens.to(self.spec.device)), self.spec.normalize)


def _spec(kind: str, options: dict[str, Any]) -> OpenCLIPSpec:
    return spec_from_options(OpenCLIPSpec, kind, options)


def build_open_clip_image_encoder(**options: Any) -> OpenCLIPImageEncoder:
    """Registry factory: an :class:`OpenCLIPImageEncoder` from the options of a config's ``encoder`` block.

    Raises:
        TypeError: An option is unknown (the message lists the valid ones), missing or of the wrong type.
        ValueError: An option has a bad value, or the checkpoint is missing, unsafe or does not fit.
    """
    return OpenCLIPImageEncoder(_spec("open_clip_image", options))


def build_open_clip_text_encoder(**options: Any) -> OpenCLIPTextEncoder:
    """Registry factory: an :class:`OpenCLIPTextEncoder` from the options of a config's ``encoder`` block.

    Raises:
        TypeError: An option is unknown (the message lists the valid ones), missing or of the wrong type.
        ValueError: An option has a bad value, or the checkpoint is missing, unsafe or does not fit.
    """
    return OpenCLIPTextEncoder(_spec("open_clip_text", options))
