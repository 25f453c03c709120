"""Load typed, strict job configs: YAML plus dotted ``key.sub=value`` overrides into frozen dataclasses.

A job declares its config as nested frozen dataclasses (shared blocks in blocks.py, job schemas in jobs.py).
:func:`load_config` reads the YAML, applies overrides, and builds the dataclasses, collecting every problem
(unknown keys, missing keys, wrong types, bad values) with its dotted path before raising once, so a user fixes
a config in one pass and no cluster time is spent on a config that was never going to run. A dataclass may add
value checks in a ``problems() -> list[str]`` method.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml

Config = TypeVar("Config")


class ConfigError(ValueError):
    """A config has problems; ``problems`` lists each one as ``dotted.path: what is wrong``."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(f"invalid config {source}:\n  - " + "\n  - ".join(problems))


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
            raise ConfigError(source, [f"cannot read YAML: {e}"]) from e
    if not isinstance(data, dict):
        raise ConfigError(source, [f"the top level must be a mapping of keys, got {type(data).__name__}"])
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
            problems.append(f"override {override!r} must look like key.sub=value")
            continue
        *parents, leaf = key.split(".")
        node = data
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                problems.append(f"override {override!r}: {part} is not a mapping")
                break
        else:
            node[leaf] = yaml.safe_load(raw) if raw else ""
    return data


def build(schema: Any, value: Any, path: str, problems: list[str]) -> Any:
    """Check ``value`` against the type ``schema`` and build it, appending problems with their paths."""
    where = path or "(top level)"
    if hasattr(schema, "from_config"):  # a block whose keys depend on its content (blocks.TranslatorConfig)
        return schema.from_config(value, where, problems)
    if dataclasses.is_dataclass(schema):
        return _build_dataclass(schema, value, path, problems)
    origin, args = typing.get_origin(schema), typing.get_args(schema)
    if schema is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        return _build_union(args, value, path, problems)
    if origin is typing.Literal:
        if value not in args:
            problems.append(f"{where}: must be one of {list(args)}, got {value!r}")
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            problems.append(f"{where}: must be a list, got {type(value).__name__}")
            return ()
        return tuple(build(args[0], item, f"{path}[{i}]", problems) for i, item in enumerate(value))
    if origin in (dict, Mapping):
        if not isinstance(value, dict):
            problems.append(f"{where}: must be a mapping, got {type(value).__name__}")
            return {}
        return {k: build(args[1], v, f"{path}.{k}" if path else str(k), problems) for k, v in value.items()}
    if not _is_instance(value, schema):
        problems.append(f"{where}: must be {getattr(schema, '__name__', schema)}, got {value!r}")
    return float(value) if schema is float and isinstance(value, int) else value


def _build_dataclass(schema: Any, value: Any, path: str, problems: list[str]) -> Any:
    where = path or "(top level)"
    if not isinstance(value, dict):
        problems.append(f"{where}: must be a mapping, got {type(value).__name__}")
        return None
    hints = typing.get_type_hints(schema)
    fields = {f.name: f for f in dataclasses.fields(schema)}
    for key in value.keys() - fields.keys():
        close = difflib.get_close_matches(str(key), fields, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else f"; known keys: {sorted(fields)}"
        problems.append(f"{_join(path, key)}: unknown key{hint}")
    built, complete, failed = {}, True, set()
    for name, field in fields.items():
        required = field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
        if name not in value:
            if required:
                problems.append(f"{_join(path, name)}: required")
                complete = False
            continue
        already = len(problems)
        candidate = build(hints[name], value[name], _join(path, name), problems)
        if len(problems) == already:
            built[name] = candidate
        else:
            failed.add(name)
            complete = complete and not required
        # An invalid optional field is already reported; its default stands in so the other value checks run.
    if not complete:
        return None
    try:
        config = schema(**built)
    except (TypeError, ValueError) as e:
        problems.append(f"{where}: {e}")
        return None
    if hasattr(config, "problems"):  # problems name their own key; a key already reported is not repeated
        problems.extend(_join(path, problem) for problem in config.problems()
                        if re.split(r"[:.]", problem, maxsplit=1)[0] not in failed)
    return config


def _build_union(args: tuple, value: Any, path: str, problems: list[str]) -> Any:
    if value is None and type(None) in args:
        return None
    options = [a for a in args if a is not type(None)]
    if len(options) == 1 and (dataclasses.is_dataclass(options[0]) or hasattr(options[0], "from_config")):
        return build(options[0], value, path, problems)  # a block's own problems say more than "must be X or None"
    for option in options:
        trial: list[str] = []
        built = build(option, value, path, trial)
        if not trial:
            return built
    names = " or ".join(getattr(a, "__name__", str(a)) for a in args)
    problems.append(f"{path or '(top level)'}: must be {names}, got {value!r}")
    return None


def _is_instance(value: Any, schema: Any) -> bool:
    if schema is type(None):
        return value is None
    if isinstance(value, bool) and schema is not bool:
        return False  # YAML's `yes` is not a number
    if schema is float:
        return isinstance(value, (int, float))
    return isinstance(value, schema)


def _join(path: str, key: object) -> str:
    return f"{path}.{key}" if path else str(key)


def _deep_copy(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _deep_copy(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_deep_copy(v) for v in data]
    return data
