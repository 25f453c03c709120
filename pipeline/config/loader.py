"""Load typed, strict job configs: YAML plus dotted ``key.sub=value`` overrides into frozen dataclasses.

A job declares its config as nested frozen dataclasses (shared blocks in blocks.py, job schemas in jobs.py).
:func:`load_config` reads the YAML, applies overrides, and builds the dataclasses with the one strict builder
(:mod:`pipeline.strict`), which collects every problem (unknown keys, missing keys, wrong types, bad values) with
its dotted path before raising once, so no cluster time is spent on a config that was never going to run.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml

from pipeline.strict import Invalid, build, join

Config = TypeVar("Config")


class ConfigError(Invalid):
    """A config has problems; ``problems`` lists each one as ``dotted.path: what is wrong``."""

    def __init__(self, source: str, problems: list[str]) -> None:
        super().__init__(f"config {source}", problems)


def load_config(schema: type[Config], path: str | Path | None, overrides: Sequence[str] = ()) -> Config:
    """Read ``path`` (YAML; None for defaults only), apply ``overrides``, and build ``schema``.

    Raises:
        ConfigError: every problem found, each with its dotted key.
    """
    source = str(path) if path is not None else "(defaults)"
    data: Any = {}
    if path is not None:
        try:
            data = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, yaml.YAMLError) as e:
            raise ConfigError(source, [f"(file): cannot read YAML: {' '.join(str(e).split())}"]) from e
    if not isinstance(data, dict):
        raise ConfigError(source, [f"(top level): must be a mapping of keys, got {type(data).__name__}"])
    problems: list[str] = []
    data = apply_overrides(data, overrides, problems)
    config = build(schema, data, "", problems)
    if problems:
        raise ConfigError(source, problems)
    return config


def apply_overrides(data: dict[str, Any], overrides: Sequence[str], problems: list[str]) -> dict[str, Any]:
    """Set ``a.b.c=value`` pairs in a copy of ``data``; values are parsed as YAML (``1``, ``true``, ``null``)."""
    data = _deep_copy(data)
    for override in overrides:
        key, sep, raw = override.partition("=")
        if not sep or not key:
            problems.append(f"(override {override!r}): must look like key.sub=value")
            continue
        *parents, leaf = key.split(".")
        node = data
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                problems.append(f"{join('', key)}: {part} is not a mapping, so the override cannot set a key under it")
                break
        else:
            try:
                node[leaf] = yaml.safe_load(raw) if raw else ""
            except yaml.YAMLError as e:
                problems.append(
                    f"{join('', key)}: the override's value {raw!r} is not valid YAML ({str(e).splitlines()[0]})"
                )
    return data


def _deep_copy(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _deep_copy(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_deep_copy(v) for v in data]
    return data
