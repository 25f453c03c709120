"""Path rules a config must pass before anything starts: an output never overlaps its source, and a ``pkg://``
path never leaves its package. Pure string work on URLs: no filesystem is touched, no credential needed."""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Mapping
from typing import NamedTuple

PACKAGE_SCHEME = "pkg://"  # data that ships inside an installed Python package: pkg://<package>/<sub/path>


class Place(NamedTuple):
    """Where a block reads or writes: its format, its path, and for a store the table (and database) it names."""

    format: str
    path: str
    table: str = ""
    dsn: str = ""

    @property
    def is_table_in_a_store(self) -> bool:
        return self.format in ("delta", "lancedb", "pgvector")


def location(url: str) -> tuple[str, str]:
    """``(protocol, normalized absolute path)`` of an fsspec URL; a bare path is a local file."""
    protocol, sep, rest = url.partition("://")
    if not sep:
        return "file", os.path.normpath(os.path.abspath(url))
    protocol = re.split(r"[+:]", protocol)[0] or "file"  # `file`, `s3`, `gs`, ... (`simplecache::s3` keeps `s3`)
    if protocol in ("file", "local"):
        return "file", os.path.normpath(os.path.abspath(rest))
    return protocol, posixpath.normpath("/" + rest.lstrip("/"))


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
    """Every output (``{config key: place}``) that would overwrite its source or be read back in as input.

    Between two store tables, only the same table is refused (one LanceDB database holds many tables). Any other
    pair is refused when the output's folder (for pgvector, its records folder) equals, sits inside or contains
    the source's.
    """
    found = []
    for key, place in outputs.items():
        if source.is_table_in_a_store and place.is_table_in_a_store:
            if _same_table(source, place):
                found.append(
                    f"{key}: the output is the source table ({place.format} {place.table or place.path}); "
                    "a job never overwrites its input: name another table"
                )
            continue
        if (
            source.path
            and place.path
            and not source.path.startswith(PACKAGE_SCHEME)
            and (relation := overlap(place.path, source.path))
        ):
            found.append(
                f"{key}.path: {place.path!r} {relation} source.path {source.path!r}; a job never writes "
                "where it reads: write the output somewhere else"
            )
    return found


def _same_table(first: Place, second: Place) -> bool:
    if first.format != second.format:
        return False
    if first.format == "pgvector":
        return first.table == second.table and first.dsn == second.dsn
    return overlap(first.path, second.path) == "equals" and (first.format == "delta" or first.table == second.table)


def package_path_problems(key: str, path: str | None) -> list[str]:
    """A ``pkg://<package>/<sub>`` path whose ``<sub>`` climbs out of the package (``..``) is refused."""
    if not path or not path.startswith(PACKAGE_SCHEME):
        return []
    sub = path[len(PACKAGE_SCHEME) :].partition("/")[2]
    if ".." in sub.split("/") or sub.startswith("/"):
        return [f"{key}: {path!r} leaves its package; a pkg:// path names a file or folder inside the package"]
    return []
