"""The ``translator`` block of a job config, checked against the estimators' own options when it is loaded."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from pipeline.strict import build_tagged
from pipeline.translate.translators import method_options


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
        built = build_tagged(value, "method", method_options, "{method: auto}", where, problems, default="auto")
        return None if built is None else cls(*built)

    def for_index(self) -> TranslatorConfig:
        """This block in a job whose translations become index rows that native queries search: ``auto`` without
        an objective takes ``index`` (``AutoOptions.objective``); anything the config names is kept."""
        if self.method != "auto" or "objective" in self.options:
            return self
        return dataclasses.replace(self, options={**self.options, "objective": "index"})
