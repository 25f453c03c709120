"""What every encoder family's spec shares: strict building from options, int checks, and the precision knob."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, TypeVar

from pipeline import strict

Spec = TypeVar("Spec")

# One knob, one spelling, for every family: `auto` is bf16 on CUDA and fp32 elsewhere.
Precision = Literal["auto", "fp32", "bf16", "fp16"]
PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16", "fp16")
# hf_text's older `dtype` key and its values, still read for one release (strict's `renamed_keys`).
_DTYPE_NAMES = {"auto": "auto", "float32": "fp32", "bfloat16": "bf16", "float16": "fp16"}
RENAMED_DTYPE = {"dtype": ("precision", lambda value: _DTYPE_NAMES.get(value, value))}


def is_int(value: object) -> bool:
    """True for ints but not bools (YAML's `yes` must not pass as a batch size)."""
    return isinstance(value, int) and not isinstance(value, bool)


def check_precision(precision: object) -> None:
    """Raise unless ``precision`` is one of :data:`PRECISIONS` (for specs built directly, not from options)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}.")


def resolve_precision(precision: str, device: str) -> str:
    """``auto`` -> ``bf16`` on CUDA (the tensor cores' fast path, with fp32's exponent range), else ``fp32``."""
    if precision == "auto":
        return "bf16" if str(device).startswith("cuda") else "fp32"
    return precision


def require_cuda_for(precision: str, device: str) -> None:
    """Reduced precision runs on CUDA only; checked where the device is known (inside the actor), not in the
    config, whose device is filled in by the actor that has or lacks a GPU."""
    if resolve_precision(precision, device) != "fp32" and not str(device).startswith("cuda"):
        raise ValueError(
            f"precision {precision!r} needs a CUDA device (got device={device!r}); "
            "use precision 'fp32' or 'auto' on the CPU."
        )


def spec_from_options(spec: type[Spec], kind: str, options: Mapping[str, Any]) -> Spec:
    """``spec(**options)`` through the one strict builder, so a typo or a bad value never reaches a model load.

    Raises:
        pipeline.strict.Invalid: a TypeError and ValueError listing every problem with its key.
    """
    return strict.parse(spec, options, f"{kind} encoder options")
