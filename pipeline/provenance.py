"""What a table records about how it was made, and what it never records.

Recorded: the space its vectors live in (a readable id derived from the encoder), a snapshot of the config that
made it, and the job fingerprint over that snapshot and the package version, which guards an output directory
against mixing two jobs' parts. Never recorded: credentials (``storage_options``, a PostgreSQL ``dsn``), and
settings that change how a job runs but not what it writes (``execution``, ``overwrite``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import posixpath
from collections.abc import Mapping
from typing import Any

from pipeline.version import __version__

# Credentials never reach a manifest, and how a job was run (actors, overwrite, where its records are) does not
# change its tables.
UNRECORDED_KEYS = frozenset({"storage_options", "dsn", "overwrite", "execution", "records"})


def space_id(kind: str, options: Mapping[str, Any]) -> str:
    """A stable, readable id such as ``hf_text/all-MiniLM-L6-v2``, from an encoder block.

    The model's last path component names the space, so a hub id, a local copy of it and its packaged form
    agree; options that change the vectors (pooling, image size) are appended when they are set.
    """
    model = str(options.get("model") or options.get("architecture") or options.get("name") or "vectors")
    model = posixpath.basename(model.rstrip("/").split(":")[-1]) or model
    extras = [f"{key}={options[key]}" for key in ("pooling", "image_size", "pretrained") if key in options]
    return "/".join([kind, model, *extras])


def config_snapshot(config: Any) -> dict[str, Any]:
    """The config as JSON, without any ``storage_options`` and without settings that don't change output."""
    return _scrub(dataclasses.asdict(config))


def fingerprint(snapshot: Mapping[str, Any]) -> str:
    """sha256 of the snapshot and the package version: a changed config or code release is a different job."""
    return hashlib.sha256(json.dumps([snapshot, __version__], sort_keys=True, default=str).encode()).hexdigest()


def _scrub(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _scrub(item) for key, item in value.items() if key not in UNRECORDED_KEYS}
    if isinstance(value, (list, tuple)):
        return [_scrub(item) for item in value]
    return value
