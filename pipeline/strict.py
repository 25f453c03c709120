"""The one strict builder behind job configs, translator options and encoder specs: every problem at once.

A block is declared as a frozen dataclass. :func:`build` checks a plain mapping (YAML, keyword options) against
it: unknown keys (with the closest known one), missing keys, types (``Literal``, unions, tuples, mappings,
nested blocks), then the dataclass's own value checks (``__post_init__`` raising, or a ``problems() ->
list[str]`` method). Every problem is collected with its dotted key before anything raises, so a user fixes a
config in one pass, and no model loads or cluster starts for a block that was never going to work.

Two optional hooks on a block class:
- ``from_config(value, where, problems)``: a classmethod for blocks whose keys depend on their content (a
  translator block's keys depend on its ``method``; an encoder block's on its ``kind``).
- ``renamed_keys``: a ``ClassVar`` mapping an old key to ``(new key, value converter)``; the old spelling keeps
  working for a release, with a ``FutureWarning`` that names the new key.
- ``retired_keys``: a ``ClassVar`` mapping an old key to its new name; the old key is a problem that names the
  new one (the British spellings of 0.1: ``colouring`` is ``coloring``).

Only the standard library here: the math core and the encoders build their options with it too.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
import types
import typing
import warnings
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

Block = TypeVar("Block")


class Invalid(TypeError, ValueError):
    """A block with problems; ``problems`` lists each one as ``dotted.key: what is wrong``.

    Both a TypeError and a ValueError, so callers that catch either (wrong types, bad values) catch it.
    """

    def __init__(self, what: str, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__(f"invalid {what}:\n  - " + "\n  - ".join(self.problems))


def parse(schema: type[Block], options: Mapping[str, Any], what: str) -> Block:
    """Build ``schema`` from flat keyword options (an encoder's or a translator's), or raise every problem.

    Paths (``os.PathLike``) are taken as their ``str``: Python callers pass ``pathlib.Path`` where YAML has text.

    Raises:
        Invalid: every problem, each as ``key: what is wrong``.
    """
    problems: list[str] = []
    given = {key: os.fspath(value) if isinstance(value, os.PathLike) else value for key, value in options.items()}
    built = build(schema, given, "", problems)
    if problems:
        raise Invalid(what, problems)
    return built


def build(schema: Any, value: Any, path: str, problems: list[str]) -> Any:
    """Check ``value`` against the type ``schema`` and build it, appending problems with their paths."""
    where = path or "(top level)"
    if hasattr(schema, "from_config"):
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
        return {k: build(args[1], v, join(path, k), problems) for k, v in value.items()}
    if not _is_instance(value, schema):
        problems.append(f"{where}: must be {getattr(schema, '__name__', schema)}, got {value!r}")
    return float(value) if schema is float and isinstance(value, int) else value


def build_tagged(
    value: Any,
    tag: str,
    schema_for: Callable[[Any], type],
    example: str,
    where: str,
    problems: list[str],
    default: Any = None,
) -> tuple[Any, dict[str, Any]] | None:
    """A block whose keys depend on one of them (a translator's ``method``, an encoder's ``kind``).

    Args:
        value: the block as given.
        tag: the key that picks the schema; ``default`` when absent (required when ``default`` is None).
        schema_for: tag value -> the schema of the other keys; raises ValueError for an unknown tag value.
        example: a valid block, quoted when ``value`` is not a mapping.
        where, problems: as for :func:`build`.

    Returns:
        ``(tag value, the other keys, deprecated ones renamed)``, or None with the problems appended.
    """
    if not isinstance(value, dict) or (default is None and tag not in value):
        problems.append(f"{where}: must be a mapping with a {tag}, e.g. {example}")
        return None
    options = dict(value)
    chosen = options.pop(tag, default)
    if not isinstance(chosen, str):  # e.g. `encoder.kind.source=x` made the tag a mapping
        problems.append(f"{join(where, tag)}: must be a name, e.g. {example}; got {chosen!r}")
        return None
    try:
        schema = schema_for(chosen)
    except ValueError as e:
        problems.append(f"{where}: {e}")
        return None
    found: list[str] = []
    options = renamed(schema, options, where, found)  # kept under the new names, so later builds never warn
    build(schema, options, where, found)
    problems.extend(found)
    return None if found else (chosen, options)


def join(path: str, key: object) -> str:
    """``path.key``, or ``key`` at the top level; a key that would not read as one (empty, blank, control
    characters, not text) is quoted, so every problem still names it visibly."""
    text = str(key)
    if not isinstance(key, str) or not text.strip() or not text.isprintable() or text != text.strip():
        text = repr(key)
    return f"{path}.{text}" if path else text


def _build_dataclass(schema: Any, value: Any, path: str, problems: list[str]) -> Any:
    where = path or "(top level)"
    if not isinstance(value, dict):
        problems.append(f"{where}: must be a mapping, got {type(value).__name__}")
        return None
    value = renamed(schema, value, path, problems)
    hints = typing.get_type_hints(schema)
    fields = {f.name: f for f in dataclasses.fields(schema)}
    retired = getattr(schema, "retired_keys", {})
    for key in sorted(value.keys() & retired.keys(), key=str):
        problems.append(f"{join(path, key)}: renamed to {retired[key]}; write {join(path, retired[key])}")
    for key in value.keys() - fields.keys() - retired.keys():
        close = difflib.get_close_matches(str(key), fields, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else f"; known keys: {sorted(fields)}"
        problems.append(f"{join(path, key)}: unknown key{hint}")
    built, complete, failed = {}, True, set()
    for name, field in fields.items():
        required = field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
        if name not in value:
            if required:
                problems.append(f"{join(path, name)}: required")
                complete = False
            continue
        already = len(problems)
        candidate = build(hints[name], value[name], join(path, name), problems)
        if len(problems) == already:
            built[name] = candidate
        else:
            failed.add(name)
            complete = complete and not required
        # An invalid optional field is already reported; its default stands in so the other value checks run.
    if not complete:
        return None
    try:
        block = schema(**built)
    except (TypeError, ValueError) as e:
        problems.append(f"{path}: {e}" if path else str(e))
        return None
    if hasattr(block, "problems"):  # problems name their own key; a key already reported is not repeated
        problems.extend(
            join(path, problem)
            for problem in block.problems()
            if re.split(r"[:.]", problem, maxsplit=1)[0] not in failed
        )
    return block


def renamed(schema: Any, value: dict[str, Any], path: str, problems: list[str]) -> dict[str, Any]:
    """``value`` with deprecated keys moved to their new names (``schema.renamed_keys``), warning once per key."""
    renames = getattr(schema, "renamed_keys", {})
    if not any(old in value for old in renames):
        return value
    value = dict(value)
    for old, (new, convert) in renames.items():
        if old not in value:
            continue
        if new in value:
            problems.append(f"{join(path, old)}: replaced by {new}; give only {new}")
            continue
        value[new] = convert(value.pop(old))
        warnings.warn(
            f"{join(path, old)} is deprecated and will be removed in the next release; "
            f"write {join(path, new)}: {value[new]!r}",
            FutureWarning,
            stacklevel=3,
        )
    return value


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
