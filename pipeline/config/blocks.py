"""Config blocks that several jobs share: translator, source, encoder, output, execution."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any


@dataclasses.dataclass(frozen=True)
class TranslatorConfig:
    """A ``translator`` block: ``{method: auto}`` or ``{method: irp, delta: 0.7, ...}`` (options inline).

    Attributes:
        method: one of ``pipeline.translate.list_methods()``.
        options: that method's options, checked when the config is loaded, long before any fitting.
    """

    method: str = "auto"
    options: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_config(cls, value: Any, where: str, problems: list[str]) -> TranslatorConfig | None:
        from pipeline.translate import parse_method_options

        if not isinstance(value, dict):
            problems.append(f"{where}: must be a mapping like {{method: auto}}, got {type(value).__name__}")
            return None
        options = dict(value)
        method = options.pop("method", "auto")
        try:
            parse_method_options(method, options)
        except (TypeError, ValueError) as e:
            problems.extend(f"{where}: {problem}" for problem in getattr(e, "problems", [str(e)]))
            return None
        return cls(method, options)
