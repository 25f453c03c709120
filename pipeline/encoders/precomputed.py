"""Pass through embeddings that a table already holds, checked: the encoder for sources with a vector column.

A vector-store export arrives as a column of vectors: a ``(n, d)`` array when Arrow stores
``fixed_size_list<float>[d]``, or a sequence of per-row arrays/lists (with ``None`` for nulls) when it stores
``list<float>``. The engine runs it like any other encoder, after its quarantine rules set aside the rows
:func:`~pipeline.encoders.inputs.invalid_vector_rows` names; encoding then just returns float32.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline.encoders.inputs import check_vectors
from pipeline.encoders.specs import is_int, spec_from_options

__all__ = ["PrecomputedEncoder", "PrecomputedSpec", "build_precomputed_encoder"]


@dataclass(frozen=True)
class PrecomputedSpec:
    """What the vector column must hold.

    Attributes:
        dim: Width every row must have.
    """

    dim: int

    def __post_init__(self) -> None:
        if not is_int(self.dim) or self.dim < 1:
            raise ValueError(f"dim must be a positive int (the width of the stored vectors), got {self.dim!r}.")


class PrecomputedEncoder:
    """Stored embeddings as an encoder satisfying :class:`pipeline.encoders.Encoder`.

    Attributes:
        spec: What was asked for.
        dim: Width of the stored (and returned) vectors.
    """

    modality = "vector"

    def __init__(self, spec: PrecomputedSpec) -> None:
        self.spec = spec
        self.dim: int = spec.dim

    def encode(self, vectors: Sequence[object] | np.ndarray, /) -> np.ndarray:
        """Check and pass through stored vectors.

        Args:
            vectors: ``(n, dim)`` array, or ``n`` rows of ``dim`` numbers each.

        Returns:
            ``(n, dim)`` float32, row ``i`` for ``vectors[i]``.

        Raises:
            ValueError: Some rows are invalid (see :func:`invalid_vector_rows`).
        """
        return check_vectors(vectors, self.dim)


def build_precomputed_encoder(**options: Any) -> PrecomputedEncoder:
    """Registry factory: a :class:`PrecomputedEncoder` from the options of a config's ``encoder`` block.

    Raises:
        TypeError: An option is unknown (the message lists the valid ones) or ``dim`` is missing.
        ValueError: ``dim`` is not a positive int.
    """
    return PrecomputedEncoder(spec_from_options(PrecomputedSpec, "precomputed", options))
