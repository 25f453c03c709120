"""Encode images with a torchvision classification backbone: ImageNet eval preprocessing, pooled pre-logit features.

Weights come from a local file (never a download) and are read with ``weights_only=True``. Each supported
architecture is cut just before its final Linear layer by a rule in :data:`BACKBONES`; the cut-off Linear is kept
as :attr:`TorchImageEncoder.head`, so the model's own classifier can decode the vectors (and translated ones).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from PIL import Image
from torch import nn
from torchvision import transforms

from pipeline.encoders.images import ImageItem, encode_in_batches
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
    "BACKBONES",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "Backbone",
    "TorchImageEncoder",
    "TorchImageSpec",
    "build_torch_image_encoder",
    "imagenet_eval_transform",
    "list_backbones",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_AUTOCAST = {"bf16": torch.bfloat16, "fp16": torch.float16}
ModuleT = TypeVar("ModuleT", bound=nn.Module)


@dataclass(frozen=True)
class Backbone:
    """A classifier split at its pre-logit features.

    Attributes:
        features: Image ``(b, 3, s, s)`` -> pooled pre-logit features ``(b, dim)``.
        head: The final Linear the features fed: ``(b, dim)`` -> logits ``(b, classes)``.
        dim: Feature width.
    """

    features: nn.Module
    head: nn.Linear
    dim: int


def _cut_classifier(model: nn.Module) -> Backbone:
    # MobileNet and EfficientNet: features -> global average pool -> classifier. Everything in the classifier up
    # to its last Linear is pre-logit (Dropout for MobileNetV2/EfficientNet, Linear+Hardswish for MobileNetV3).
    # MobileNetV2 pools with F.adaptive_avg_pool2d inside forward() rather than a module, so the pool is rebuilt
    # here; it is the same operation.
    classifier = _child(model, "classifier", nn.Sequential)
    head = classifier[-1]
    if not isinstance(head, nn.Linear):
        raise TypeError(f"{type(model).__name__}.classifier ends in a {type(head).__name__}, not a Linear")
    features = nn.Sequential(
        _child(model, "features", nn.Module), nn.AdaptiveAvgPool2d(1), nn.Flatten(1), *classifier[:-1]
    )
    return Backbone(features=features, head=head, dim=head.in_features)


def _cut_fc(model: nn.Module) -> Backbone:
    # ResNets: every child up to and including avgpool, then flatten; fc is the head.
    body = [child for name, child in model.named_children() if name != "fc"]
    head = _child(model, "fc", nn.Linear)
    return Backbone(features=nn.Sequential(*body, nn.Flatten(1)), head=head, dim=head.in_features)


def _child(model: nn.Module, name: str, kind: type[ModuleT]) -> ModuleT:
    """``model.<name>``, checked to be a ``kind`` (torch types a module's attributes as Tensor | Module)."""
    child = getattr(model, name)
    if not isinstance(child, kind):
        raise TypeError(f"{type(model).__name__}.{name} is a {type(child).__name__}, not a {kind.__name__}")
    return child


# torchvision builder name -> how to cut the built model. Plain dict: add a line to support another architecture.
BACKBONES: dict[str, Callable[[nn.Module], Backbone]] = {
    **{name: _cut_classifier for name in ("mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large")},
    **{f"efficientnet_b{i}": _cut_classifier for i in range(8)},
    **{
        name: _cut_fc
        for name in (
            "resnet18",
            "resnet34",
            "resnet50",
            "resnet101",
            "resnet152",
            "wide_resnet50_2",
            "wide_resnet101_2",
        )
    },
}


def list_backbones() -> list[str]:
    """Architectures accepted by :class:`TorchImageSpec`, sorted."""
    return sorted(BACKBONES)


def imagenet_eval_transform(image_size: int) -> Callable[[Image.Image], torch.Tensor]:
    """torchvision's ImageNet evaluation recipe: resize the short side, center crop, scale to [0, 1], normalize.

    The short side goes to ``image_size * 256 / 224`` (256 for 224), as for torchvision's MobileNetV2 and ResNet
    V1 weights. Other weight sets were trained with other resize sizes; vectors are still usable, but logits from
    :attr:`TorchImageEncoder.head` may differ slightly from the published accuracy.

    Returns:
        RGB PIL image -> ``(3, image_size, image_size)`` float32.
    """
    return transforms.Compose(
        [
            transforms.Resize(round(image_size * 256 / 224), interpolation=transforms.InterpolationMode.BILINEAR),
            transforms.CenterCrop(image_size),
            transforms.ToTensor(),
            transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ]
    )


@dataclass(frozen=True)
class TorchImageSpec:
    """What to build, which weights to load and how to preprocess.

    Attributes:
        architecture: torchvision builder name, one of :func:`list_backbones`.
        weights: Local ``.pth`` (state dict, read with ``weights_only=True``) or ``.safetensors`` file.
        image_size: Side of the center crop fed to the model.
        normalize: L2-normalize each output row.
        batch_size: Images per forward pass.
        device: Torch device string, e.g. ``"cpu"`` or ``"cuda:0"``.
        precision: ``"fp32"``, or ``"bf16"``/``"fp16"`` autocast on CUDA; ``"auto"`` is bf16 on CUDA, else fp32.
    """

    architecture: str
    weights: str
    image_size: int = 224
    normalize: bool = True
    batch_size: int = 32
    device: str = "cpu"
    precision: Precision = "fp32"

    def __post_init__(self) -> None:
        if isinstance(self.weights, os.PathLike):
            # Stored as str so that specs compare, hash and serialize the same however the path was given.
            object.__setattr__(self, "weights", os.fspath(self.weights))
        if self.architecture not in BACKBONES:
            raise ValueError(
                f"Unsupported torch_image architecture {self.architecture!r}; choose one of "
                f"{list_backbones()}, or add a cut rule to BACKBONES."
            )
        if not isinstance(self.weights, str) or not self.weights:
            raise TypeError(f"weights must be a local weights file path (a non-empty str), got {self.weights!r}.")
        if not isinstance(self.normalize, bool):
            raise TypeError(f"normalize must be true or false, got {self.normalize!r}.")
        # Below 32 px the five stride-2 stages of these networks leave less than one pixel to pool.
        if not is_int(self.image_size) or self.image_size < 32:
            raise ValueError(f"image_size must be an int >= 32, got {self.image_size!r}.")
        if not is_int(self.batch_size) or self.batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {self.batch_size!r}.")
        check_precision(self.precision)


class TorchImageEncoder:
    """A torchvision backbone encoder satisfying :class:`pipeline.encoders.Encoder`.

    Attributes:
        spec: What was loaded.
        dim: Width of the pooled pre-logit features (1280 for MobileNetV2, 512 for ResNet18).
        model: The whole classifier with the loaded weights, in eval mode.
        features: Its trunk up to the pre-logit features (shares parameters with ``model``).
        head: Its final Linear: ``head(encode(x, normalize off))`` are the model's own logits.
        preprocess: RGB PIL image -> ``(3, s, s)`` float32, see :func:`imagenet_eval_transform`.
    """

    modality = "image"

    def __init__(self, spec: TorchImageSpec) -> None:
        require_cuda_for(spec.precision, spec.device)
        self.spec = spec
        model = torchvision.models.get_model(spec.architecture, weights=None)
        load_weights_into(model, load_state_dict_file(spec.weights), f"{spec.architecture} from {spec.weights!r}")
        # Built in training mode: BatchNorm would use batch statistics and Dropout would drop features.
        self.model = model.eval().to(spec.device)
        backbone = BACKBONES[spec.architecture](self.model)
        self.features, self.head, self.dim = backbone.features.eval(), backbone.head, backbone.dim
        self.preprocess = imagenet_eval_transform(spec.image_size)

    def pixels(self, images: Sequence[Image.Image]) -> torch.Tensor:
        """RGB images -> ``(b, 3, s, s)`` float32 model input on the CPU."""
        return torch.stack([self.preprocess(image) for image in images])

    def encode(self, images: Sequence[ImageItem], /) -> np.ndarray:
        """Encode images.

        Args:
            images: ``n`` items: encoded bytes, paths/URLs or PIL images (see :func:`~pipeline.encoders.images.
                load_image`).

        Returns:
            ``(n, dim)`` float32, row ``i`` for ``images[i]``.

        Raises:
            ValueError: Some rows cannot be decoded (see :func:`~pipeline.encoders.images.invalid_image_rows`).
        """
        return encode_in_batches(
            images, self.dim, self.spec.batch_size, lambda chunk: self._forward(self.pixels(chunk)).numpy()
        )

    @torch.inference_mode()
    def _forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """``pixels: (b, 3, s, s)`` -> ``(b, dim)`` float32 on the CPU."""
        device = torch.device(self.spec.device)
        precision = resolve_precision(self.spec.precision, self.spec.device)
        dtype = _AUTOCAST.get(precision, torch.float32)
        with torch.autocast(device_type=device.type, dtype=dtype, enabled=precision != "fp32"):
            vectors = self.features(pixels.to(device)).float()
        if self.spec.normalize:
            vectors = F.normalize(vectors, p=2.0, dim=1)
        return vectors.cpu()


def build_torch_image_encoder(**options: Any) -> TorchImageEncoder:
    """Registry factory: a :class:`TorchImageEncoder` from the options of a config's ``encoder`` block.

    Raises:
        TypeError: An option is unknown (the message lists the valid ones), missing or of the wrong type.
        ValueError: An option has a bad value, or the weights file is missing, unsafe or does not fit.
    """
    return TorchImageEncoder(spec_from_options(TorchImageSpec, "torch_image", options))
