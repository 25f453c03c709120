"""Encode texts with a Hugging Face transformers model: tokenize, forward, pool, optionally L2-normalize.

Speed path: texts are tokenized once, unpadded, chunk by chunk, the next chunk in a
background thread while the model runs this one. Each chunk becomes token-budget batches of a few bucketed
shapes, packed with vectorized numpy (:mod:`pipeline.encoders.batching`). On CUDA the model runs in bf16 by
default; pooling and normalization stay float32. Tokenizing is :class:`~pipeline.encoders.hf_tokenizer.HFTokenizer`,
which needs no model: the engine runs it in CPU tasks and feeds the GPU actor :meth:`HFTextEncoder.encode_tokens`.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import closing
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from pipeline.encoders.batching import (
    Ragged,
    pack,
    plan_token_batches,
    prefetched,
)
from pipeline.encoders.hf_loading import load_model, token_columns, torch_dtype
from pipeline.encoders.hf_spec import POOLINGS, HFTextSpec
from pipeline.encoders.hf_tokenizer import HFTokenizer
from pipeline.encoders.inputs import check_texts
from pipeline.encoders.specs import spec_from_options

__all__ = [
    "POOLINGS",
    "HFTextEncoder",
    "HFTextSpec",
    "build_hf_text_encoder",
    "pool",
]


def pool(hidden: torch.Tensor, mask: torch.Tensor, mode: str) -> torch.Tensor:
    """Reduce token states to one vector per text.

    Args:
        hidden: ``(n, t, d)`` last hidden states.
        mask: ``(n, t)`` attention mask, 1 for real tokens and 0 for padding (either side).
        mode: One of :data:`POOLINGS`.

    Returns:
        ``(n, d)`` in ``hidden``'s dtype.
    """
    if mode == "mean":
        # Padding must not dilute the mean. The clamp matches sentence-transformers and guards all-pad rows.
        m = mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * m).sum(dim=1) / m.sum(dim=1).clamp(min=1e-9)
    if mode == "cls":
        return hidden[:, 0]
    if mode == "last":
        # Index of the last 1 in each mask row, so this holds for left and right padding alike.
        t = mask.shape[1]
        last = t - 1 - mask.flip(dims=[1]).to(torch.int64).argmax(dim=1)
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
    raise ValueError(f"pooling must be one of {POOLINGS}, got {mode!r}.")


class HFTextEncoder:
    """A transformers text encoder satisfying :class:`pipeline.encoders.Encoder`.

    Attributes:
        spec: What was loaded.
        dim: Width of the output vectors (the model's hidden size).
        max_length: Token limit in use (see :func:`~pipeline.encoders.hf_tokenizer.resolve_max_length`).
        attn_implementation: ``"sdpa"`` or ``"eager"``, as loaded.
        dtype: The model weights' torch dtype (see :func:`~pipeline.encoders.hf_loading.torch_dtype`).
    """

    modality = "text"

    def __init__(self, spec: HFTextSpec) -> None:
        self.spec = spec
        self.tokens = HFTokenizer(spec)
        self.max_length = self.tokens.max_length
        self.dtype = torch_dtype(spec.precision, spec.device)
        self.model, self.attn_implementation = load_model(spec, self.dtype)
        self.dim: int = int(self.model.config.hidden_size)
        if spec.token_budget < self.max_length:
            raise ValueError(
                f"token_budget ({spec.token_budget}) must be at least max_length ({self.max_length}) "
                f"of {spec.model}; raise token_budget or lower max_length."
            )
        self._columns = token_columns(self.tokens.columns, self.model)
        # Always right-padded, whatever the tokenizer's padding side: real tokens then keep positions 0..len-1,
        # which causal models need too, and every pooling reads the mask.
        self._pad_values = self.tokens.pad_values
        self._chunk_size = spec.chunk_size or max(256, 4 * spec.batch_size)
        self._cuda = torch.device(spec.device).type == "cuda"
        self.bucket = spec.bucket if spec.bucket is not None else 32 if self._cuda else 1

    def encode(self, texts: Sequence[str] | Ragged, /) -> np.ndarray:
        """Encode texts.

        Args:
            texts: ``n`` non-blank strings, or the ``n`` rows of token ids an :class:`HFTokenizer` of this spec
                made of them (in another process): those go straight to :meth:`encode_tokens`.

        Returns:
            ``(n, dim)`` float32, row ``i`` for ``texts[i]`` (batches are formed by length, then scattered back).

        Raises:
            ValueError: Some rows are not non-blank strings (see :func:`invalid_text_rows`).
        """
        if isinstance(texts, Ragged):
            return self.encode_tokens(texts)
        check_texts(texts)
        texts = list(texts)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        size = self._chunk_size
        starts = range(0, len(texts), size)
        chunks = prefetched(lambda s: self.tokenize(texts[s : s + size]), starts, ahead=self.spec.overlap_tokenization)
        with closing(chunks):  # stops the prefetch thread at once if the model raises
            for start, tokens in zip(starts, chunks, strict=True):
                out[start : start + len(tokens)] = self.encode_tokens(tokens)
        return out

    def tokenize(self, texts: Sequence[str]) -> Ragged:
        """Tokenize without padding, truncating at ``max_length``: ``n`` texts -> ``n`` rows of token ids."""
        return self.tokens.tokenize(texts)

    @torch.inference_mode()
    def encode_tokens(self, tokens: Ragged) -> np.ndarray:
        """Encode tokenized rows (from :meth:`tokenize` or an :class:`HFTokenizer` in another process):
        ``n`` rows -> ``(n, dim)`` float32 in row order."""
        # token_type_ids are dropped for a model whose forward does not take them: the tokenizer alone cannot tell.
        tokens = Ragged({name: tokens.columns[name] for name in self._columns}, tokens.offsets)
        out = np.empty((len(tokens), self.dim), dtype=np.float32)
        batches = plan_token_batches(
            tokens.lengths,
            token_budget=self.spec.token_budget,
            bucket=self.bucket,
            max_length=self.max_length,
            max_rows=self.spec.batch_size,
        )
        if not batches:
            return out
        # Vectors stay on the device until the chunk is done: a copy back per batch would wait for the GPU each
        # time, while one per chunk lets the CPU pack the next batch as the GPU still runs this one.
        vectors = torch.cat([self._forward(pack(tokens, b.rows, b.length, self._pad_values)) for b in batches])
        out[np.concatenate([b.rows for b in batches])] = vectors.cpu().numpy()
        return out

    def _forward(self, arrays: dict[str, np.ndarray]) -> torch.Tensor:
        """``arrays`` ``(b, t)`` int64 -> ``(b, dim)`` float32 on the model's device."""
        batch = {k: self._to_device(torch.from_numpy(v)) for k, v in arrays.items()}
        # Pooling and normalization in float32 whatever the model's dtype, so that a bf16 model's vectors carry
        # the forward's rounding only, not a second rounding of the mean and the norm.
        hidden = self.model(**batch).last_hidden_state.float()
        vectors = pool(hidden, batch["attention_mask"], self.spec.pooling)
        return F.normalize(vectors, p=2.0, dim=1) if self.spec.normalize else vectors

    def _to_device(self, x: torch.Tensor) -> torch.Tensor:
        if not self._cuda:
            return x
        # Pinned and non-blocking: a pageable copy waits for the GPU to finish the batch before, and the CPU
        # could not pack the next batch meanwhile.
        return x.pin_memory().to(self.spec.device, non_blocking=True)


def build_hf_text_encoder(**options: Any) -> HFTextEncoder:
    """Registry factory: an :class:`HFTextEncoder` from the options of a config's ``encoder`` block.

    Raises:
        TypeError: An option is unknown (the message lists the valid ones) or has the wrong type.
        ValueError: An option has a bad value.
    """
    spec = spec_from_options(HFTextSpec, "hf_text", options)
    return HFTextEncoder(spec)
