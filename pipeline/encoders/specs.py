"""Building an encoder's frozen spec from a config block's options, strictly, for every encoder family."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

Spec = TypeVar("Spec")


def is_int(value: object) -> bool:
    """True for ints but not bools (YAML's `yes` must not pass as a batch size)."""
    return isinstance(value, int) and not isinstance(value, bool)


def require_cuda_for(precision: str, device: str) -> None:
    """Reduced precision runs on CUDA only; checked where the device is known (inside the actor), not in the
    config, whose device is filled in by the actor that has or lacks a GPU."""
    if precision != "fp32" and not str(device).startswith("cuda"):
        raise ValueError(f"precision {precision!r} needs a CUDA device (got device={device!r}); "
                         "use precision 'fp32' on the CPU.")


def spec_from_options(spec: type[Spec], kind: str, options: Mapping[str, Any], needs: str = "") -> Spec:
    """``spec(**options)`` after checking the option names, so a typo never reaches a model load.

    Args:
        spec: the family's frozen spec dataclass; its ``__post_init__`` checks the values.
        kind: the encoder kind, for messages.
        options: the ``encoder`` block without ``kind``.
        needs: what the required options mean, appended to the missing-option message.

    Raises:
        TypeError: unknown or missing options (the message lists the valid ones), or wrong types.
        ValueError: bad values.
    """
    fields = dataclasses.fields(spec)
    valid = [field.name for field in fields]
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise TypeError(f"Unknown {kind} encoder option(s) {unknown}; valid options are {valid}.")
    required = [f.name for f in fields if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    missing = [name for name in required if name not in options]
    if missing:
        raise TypeError(f"The {kind} encoder needs {', '.join(missing)}{': ' + needs if needs else ''}.")
    return spec(**options)
