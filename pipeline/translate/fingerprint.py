"""Content fingerprints of anchor tables, so artifacts and outputs can prove which anchors made them."""

from __future__ import annotations

import hashlib

import numpy as np


def fingerprint_arrays(*tables: object) -> str:
    """sha256 hex over the shapes and float32 bytes of ``tables``, in order (row order matters).

    Float32 because that is how embedding tables are stored: the same table read back gives the same value.
    """
    digest = hashlib.sha256()
    for table in tables:
        array = np.ascontiguousarray(table, dtype=np.float32)
        digest.update(str(array.shape).encode())
        digest.update(array.tobytes())
    return digest.hexdigest()
