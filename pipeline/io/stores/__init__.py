"""The tables a job reads from and publishes to: Parquet directories, LanceDB, Delta Lake, PostgreSQL + pgvector.

Each is one module behind the :class:`~pipeline.io.stores.base.VectorStore` protocol, imported only when a config
names it, so a Parquet-only job needs none of the stores' packages. ``layout`` says where each table keeps its
records; a new store plugs in with a module, a line in :data:`STORES` and its format in ``pipeline.config``.
"""

from __future__ import annotations

import importlib
import importlib.util

from pipeline.io.stores.base import CONTENT_HASH_COLUMN, StoreRef, VectorStore, content_hashes, publish_id

# format -> (our module, its class, the modules it needs, the pip packages that provide them)
STORES = {
    "parquet": ("pipeline.io.stores.parquet", "ParquetStore", (), ""),
    "lancedb": ("pipeline.io.stores.lance", "LanceStore", ("lance", "lancedb"), "lancedb pylance"),
    "delta": ("pipeline.io.stores.delta", "DeltaStore", ("deltalake",), "deltalake"),
    "pgvector": ("pipeline.io.stores.pgvector", "PgVectorStore", ("psycopg", "pgvector"), "psycopg[binary] pgvector"),
}


def open_store(ref: StoreRef) -> VectorStore:
    """The store object of ``ref`` (no connection is made until it is used).

    Raises:
        ValueError: an unknown format.
        ImportError: the store's package is not installed; the message says which to install.
    """
    if ref.format not in STORES:
        raise ValueError(f"unknown store format {ref.format!r}; choose from {list(STORES)}")
    module, name, needs, packages = STORES[ref.format]
    missing = [need for need in needs if importlib.util.find_spec(need) is None]
    if missing:
        raise ImportError(
            f"format {ref.format} needs {packages}: pip install 'irp-pipeline[stores]' (missing: {', '.join(missing)})"
        )
    return getattr(importlib.import_module(module), name)(ref)


__all__ = ["CONTENT_HASH_COLUMN", "STORES", "StoreRef", "VectorStore", "content_hashes", "open_store", "publish_id"]
