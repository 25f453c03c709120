"""What names an embedding space: a readable id derived from the encoder that defines it."""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from typing import Any


def space_id(kind: str, options: Mapping[str, Any]) -> str:
    """A stable, readable id such as ``hf_text/all-MiniLM-L6-v2``, from an encoder block.

    The model's last path component names the space, so a hub id, a local copy of it and its packaged form
    agree; options that change the vectors (pooling, image size) are appended when they are set.
    """
    model = str(options.get("model") or options.get("architecture") or options.get("name") or "vectors")
    model = posixpath.basename(model.rstrip("/").split(":")[-1]) or model
    extras = [f"{key}={options[key]}" for key in ("pooling", "image_size", "pretrained") if key in options]
    return "/".join([kind, model, *extras])
