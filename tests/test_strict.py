"""The one strict builder behind configs, translator options and encoder specs: every problem, with its key."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import ClassVar, Literal

import pytest

from pipeline import strict


@dataclasses.dataclass(frozen=True)
class Knobs:
    path: str
    mode: Literal["fast", "exact"] = "fast"
    size: int = 1

    renamed_keys: ClassVar = {"speed": ("mode", {"quick": "fast"}.get)}

    def problems(self) -> list[str]:
        return [] if self.size >= 1 else [f"size: must be >= 1, got {self.size}"]


def test_every_problem_is_reported_with_its_key_as_a_type_and_value_error():
    with pytest.raises(strict.Invalid) as caught:
        strict.parse(Knobs, {"path": 3, "mode": "slow", "sise": 2}, "knobs")
    assert caught.value.problems == [
        "sise: unknown key (did you mean 'size'?)",
        "path: must be str, got 3",
        "mode: must be one of ['fast', 'exact'], got 'slow'",
    ]
    assert isinstance(caught.value, TypeError) and isinstance(caught.value, ValueError)
    assert str(caught.value).startswith("invalid knobs:\n  - ")
    with pytest.raises(ValueError, match="size: must be >= 1, got 0"):  # the block's own value checks run too
        strict.parse(Knobs, {"path": "p", "size": 0}, "knobs")
    with pytest.raises(TypeError, match="path: required"):
        strict.parse(Knobs, {}, "knobs")


def test_paths_are_taken_as_text():
    assert strict.parse(Knobs, {"path": Path("/data/x")}, "knobs").path == "/data/x"


def test_a_renamed_key_still_works_with_a_warning_naming_the_new_key():
    with pytest.warns(FutureWarning, match="speed is deprecated.*write mode: 'fast'"):
        assert strict.parse(Knobs, {"path": "p", "speed": "quick"}, "knobs").mode == "fast"
    with pytest.raises(ValueError, match="speed: replaced by mode; give only mode"):
        strict.parse(Knobs, {"path": "p", "speed": "quick", "mode": "exact"}, "knobs")
