"""Encoders: one module per model family behind the :class:`Encoder` protocol, built by kind from a registry."""

from __future__ import annotations

from pipeline.encoders.base import (
    ENCODER_SPECS,
    ENCODERS,
    Encoder,
    build_encoder,
    encoder_option_problems,
    list_encoders,
)

__all__ = ["ENCODERS", "ENCODER_SPECS", "Encoder", "build_encoder", "encoder_option_problems", "list_encoders"]
