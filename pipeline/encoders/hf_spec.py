"""What a transformers text encoder loads and how it pools: :class:`HFTextSpec`, checked on construction.

Kept apart from the encoder so that the engine's preparation tasks, which tokenize with this spec
(:mod:`pipeline.encoders.hf_tokenizer`), never import torch.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from pipeline.encoders.specs import RENAMED_DTYPE, Precision, check_precision, is_int

__all__ = ["POOLINGS", "HFTextSpec", "Pooling"]

Pooling = Literal["mean", "cls", "last"]
POOLINGS: tuple[str, ...] = ("mean", "cls", "last")


@dataclass(frozen=True)
class HFTextSpec:
    """What to load and how to pool.

    Attributes:
        model: Local model directory (or a hub id where a hub is reachable).
        pooling: ``"mean"`` over real tokens, ``"cls"`` (first token) or ``"last"`` (last real token).
        normalize: L2-normalize each output row.
        max_length: Truncate to this many tokens. ``None``: ``max_seq_length`` from sentence-transformers'
            ``sentence_bert_config.json`` when the directory has one, else the tokenizer's ``model_max_length``.
        batch_size: Most texts per forward pass; the token budget may allow fewer. Raise it on a GPU (e.g. 1024).
        trust_remote_code: Run model code shipped with the checkpoint. Off unless asked: it executes that code.
        device: Torch device string, e.g. ``"cpu"`` or ``"cuda:0"``.
        token_budget: Most padded tokens (rows x padded length) per forward pass; at least ``max_length``. The
            default, 64 rows of 256 tokens (what sentence-transformers' batches of 64 reach at MiniLM's limit),
            suits a CPU: 35.0 texts/s against 33.0 at 8192 on 2 cores; a GPU wants far more (e.g. 131072 = 1024
            rows x 128 tokens).
        bucket: Pad each batch to a multiple of this many tokens (or ``max_length``), so only a few shapes
            occur. 1 pads each batch to its own longest row. ``None``: 32 on CUDA, where a new shape per batch
            halves throughput, and 1 elsewhere, where shapes cost nothing and padding is pure waste.
        precision: Model weights' precision: ``"auto"`` (bf16 on CUDA, else fp32), ``"fp32"``, ``"bf16"`` or
            ``"fp16"``. The old key ``dtype`` (``float32``, ``bfloat16``, ...) is read for one more release.
        overlap_tokenization: Tokenize the next chunk in a background thread while the model runs.
        chunk_size: Texts tokenized and planned together. Larger sorts better (less padding); smaller starts
            the model sooner. ``None``: ``max(256, 4 * batch_size)``.
    """

    model: str
    pooling: Pooling = "mean"
    normalize: bool = True
    max_length: int | None = None
    batch_size: int = 64
    trust_remote_code: bool = False
    device: str = "cpu"
    token_budget: int = 16384
    bucket: int | None = None
    precision: Precision = "auto"
    overlap_tokenization: bool = True
    chunk_size: int | None = None

    renamed_keys: ClassVar[Mapping[str, tuple[str, Callable[[Any], Any]]]] = RENAMED_DTYPE

    def __post_init__(self) -> None:
        if isinstance(self.model, os.PathLike):
            # Stored as str so that specs compare, hash and serialize the same however the path was given.
            object.__setattr__(self, "model", os.fspath(self.model))
        if not isinstance(self.model, str) or not self.model:
            raise TypeError(f"model must be a model directory or hub id (a non-empty str), got {self.model!r}.")
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {self.pooling!r}.")
        for name in ("normalize", "trust_remote_code", "overlap_tokenization"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be true or false, got {getattr(self, name)!r}.")
        if self.max_length is not None and (not is_int(self.max_length) or self.max_length < 2):
            raise ValueError(
                f"max_length must be an int >= 2 (room for the special tokens) or None, got {self.max_length!r}."
            )
        for name in ("batch_size", "token_budget"):
            if not is_int(getattr(self, name)) or getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive int, got {getattr(self, name)!r}.")
        if self.bucket is not None and (not is_int(self.bucket) or self.bucket < 1):
            raise ValueError(f"bucket must be a positive int or None, got {self.bucket!r}.")
        if self.chunk_size is not None and (not is_int(self.chunk_size) or self.chunk_size < 1):
            raise ValueError(f"chunk_size must be a positive int or None, got {self.chunk_size!r}.")
        if self.max_length is not None and self.token_budget < self.max_length:
            raise ValueError(
                f"token_budget ({self.token_budget}) must be at least max_length ({self.max_length}); "
                "raise token_budget or lower max_length."
            )
        check_precision(self.precision)
