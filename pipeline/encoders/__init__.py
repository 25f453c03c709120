"""Encoders: one module per model family behind the :class:`Encoder` protocol, built by kind from a registry."""

from __future__ import annotations

from pipeline.encoders.base import ENCODERS, Encoder, build_encoder, list_encoders

__all__ = ["ENCODERS", "Encoder", "build_encoder", "list_encoders"]
