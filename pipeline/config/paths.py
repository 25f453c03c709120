"""Path rules a config must pass before anything starts: an output never overlaps its source, and a ``pkg://``
path never leaves its package. Pure string work on URLs: no filesystem is touched, no credential needed."""

from __future__ import annotations

import os
import posixpath
from collections.abc import Mapping

from fsspec.utils import infer_storage_options

from pipeline.io.sources import PACKAGE_SCHEME
from pipeline.io.stores import StoreRef

Place = tuple[str, StoreRef | None]  # a block's path, and its store table when it names one


def location(url: str) -> tuple[str, str]:
    """``(protocol, normalised absolute path)`` of an fsspec URL; a bare path is a local file."""
    options = infer_storage_options(url)
    protocol = options.get("protocol") or "file"
    protocol = "file" if protocol == "local" else protocol
    path = options["path"]
    if protocol == "file":
        return protocol, os.path.normpath(os.path.abspath(path))
    return protocol, posixpath.normpath(f"{options.get('host', '')}/{path.lstrip('/')}")


def overlap(first: str, second: str) -> str | None:
    """How two locations overlap (``equals``, ``is inside``, ``contains``), or None when they are apart."""
    (protocol_a, a), (protocol_b, b) = location(first), location(second)
    if protocol_a != protocol_b:
        return None
    if a == b:
        return "equals"
    if a.startswith(b.rstrip("/") + "/"):
        return "is inside"
    return "contains" if b.startswith(a.rstrip("/") + "/") else None


def overlap_problems(source: Place, outputs: Mapping[str, Place]) -> list[str]:
    """Every output (``{config key: (path, store)}``) that would overwrite its source or be read back in as input.

    Between two store tables, only the same table is refused (one LanceDB database holds many tables). Any other
    pair is refused when the output's folder (for pgvector, its records folder) equals, sits inside or contains
    the source's.
    """
    source_path, source_store = source
    found = []
    for key, (path, store) in outputs.items():
        if source_store is not None and store is not None:
            if _same_table(source_store, store):
                found.append(f"{key}: the output is the source table {store.describe()}; a job never overwrites its "
                             "input: name another table")
            continue
        if source_path and path and not source_path.startswith(PACKAGE_SCHEME) and (
                relation := overlap(path, source_path)):
            found.append(f"{key}.path: {path!r} {relation} source.path {source_path!r}; a job never writes where "
                         "it reads: write the output somewhere else")
    return found


def _same_table(first: StoreRef, second: StoreRef) -> bool:
    if first.format != second.format:
        return False
    if first.format == "pgvector":
        return first.table == second.table and first.dsn == second.dsn
    return overlap(first.path, second.path) == "equals" and (first.format == "delta" or first.table == second.table)


def package_path_problems(key: str, path: str | None) -> list[str]:
    """A ``pkg://<package>/<sub>`` path whose ``<sub>`` climbs out of the package (``..``) is refused."""
    if not path or not path.startswith(PACKAGE_SCHEME):
        return []
    sub = path[len(PACKAGE_SCHEME):].partition("/")[2]
    if ".." in sub.split("/") or sub.startswith("/"):
        return [f"{key}: {path!r} leaves its package; a pkg:// path names a file or folder inside the package"]
    return []
