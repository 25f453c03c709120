"""Encoders: one module per model family behind the :class:`Encoder` protocol, built by kind from a registry.

``config`` holds the ``encoder`` block of a job config; ``protocol`` what the engine calls; ``registry`` one entry
per kind (spec, encoder, tokenizer) and where models and devices come from; ``specs`` what every family's options
share (strict building, the precision knob); ``inputs`` the torch-free checks of what can be encoded; ``images``
image decoding; ``batching`` the token-budget batches; one module per family: ``hf_text`` (+ ``hf_loading``, and
``hf_tokenizer``, its model-free CPU half), ``open_clip``, ``torch_image``, ``precomputed`` (stored vectors,
checked); ``weights`` safe checkpoint loading.
"""

from __future__ import annotations

from pipeline.encoders.config import EncoderConfig
from pipeline.encoders.protocol import Encoder, Tokenizer
from pipeline.encoders.registry import (
    ENCODERS,
    EncoderKind,
    build_encoder,
    build_tokenizer,
    encoder_spec,
    list_encoders,
    resolve_model_options,
)

__all__ = [
    "ENCODERS",
    "Encoder",
    "EncoderConfig",
    "EncoderKind",
    "Tokenizer",
    "build_encoder",
    "build_tokenizer",
    "encoder_spec",
    "list_encoders",
    "resolve_model_options",
]
