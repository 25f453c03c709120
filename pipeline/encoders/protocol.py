"""What every encoder is to the engine: :class:`Encoder`, and the :class:`Tokenizer` some kinds split off.

An encoder turns a batch of raw items (texts, images, stored vectors) into float32 vectors. It holds one model
and knows nothing about Ray, storage or translation; the engine's worker runs one per actor and calls nothing
but what :class:`Encoder` declares.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = ["Encoder", "Tokenizer"]


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

    def encode(self, batch: Any, /) -> np.ndarray:
        """Encode ``n`` items.

        Args:
            batch: ``n`` items of this encoder's modality, or, for a kind with a :class:`Tokenizer`, the ``n``
                rows of token ids that tokenizer made of them (in another process, on a CPU).

        Returns:
            ``(n, dim)`` float32, row ``i`` for ``batch[i]``.
        """
        ...


@runtime_checkable
class Tokenizer(Protocol):
    """The CPU half of an encoder whose model takes token ids: runs without the model, in another process."""

    def tokenize(self, texts: Sequence[str], /) -> Any:
        """``n`` texts -> ``n`` rows of token ids (a :class:`~pipeline.encoders.batching.Ragged`), which the
        encoder's ``encode`` takes as they are and turns into ``(n, dim)`` float32."""
        ...
