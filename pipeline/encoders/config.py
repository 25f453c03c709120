"""The ``encoder`` block of a job config, checked against the kind's own spec when it is loaded."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from pipeline.encoders.registry import encoder_spec
from pipeline.strict import build_tagged


@dataclasses.dataclass(frozen=True)
class EncoderConfig:
    """An ``encoder`` block: ``{kind: hf_text, model: <hub id, local dir or packaged:NAME>, pooling: mean, ...}``.

    Attributes:
        kind: one of ``pipeline.encoders.list_encoders()``.
        options: the encoder's own options (model, pooling, normalize, max_length, ...), inline in YAML.
    """

    kind: str
    options: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_config(cls, value: Any, where: str, problems: list[str]) -> EncoderConfig | None:
        built = build_tagged(value, "kind", encoder_spec, "{kind: hf_text, model: ...}", where, problems)
        return None if built is None else cls(*built)
