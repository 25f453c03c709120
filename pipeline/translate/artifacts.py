"""Save and load translators and projectors as safetensors + JSON (never pickle), validated on load.

Free functions over the fitted objects, which know nothing of files: the math core's modules import nothing
from here, so its import graph stays acyclic.

An artifact directory holds ``<kind>.json`` (format, dims, options, report, tensor shapes, checksum) and
``<kind>.safetensors`` (named float arrays). Loading checks every promise the JSON makes and reports all broken
ones together, so a truncated copy or a mixed-up directory fails with a reason instead of a wrong translation.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load_file, save_file

from pipeline.translate.options import IRPOptions, as_dict
from pipeline.translate.plan import PLAN_ARRAYS, AffinePlan
from pipeline.translate.projector import RelativeProjector
from pipeline.translate.translators import FittedTranslator
from pipeline.version import __version__

FORMAT_VERSION = 1
_FINGERPRINT = re.compile(r"^[0-9a-f]{64}$")
# Artifacts written before the American spelling spelled plan flags and an option the British way; they still load.
_OLD_PLAN_KEYS = {"in_normalise": "in_normalize", "out_normalise": "out_normalize"}
_OLD_OPTION_KEYS = {"colouring": "coloring"}
_REQUIRED = {
    "translator": ("method", "options", "source_dim", "target_dim", "plan", "report"),
    "projector": ("dim", "n_anchors", "scale", "options", "report"),
}


def save_translator(translator: FittedTranslator, directory: str | Path) -> Path:
    """Write ``translator.json`` and ``translator.safetensors`` into ``directory``."""
    tensors = {f"plan.{name}": array for name, array in translator.plan.arrays().items()}
    tensors |= {f"state.{name}": np.asarray(array) for name, array in translator.state.items()}
    header = {
        "method": translator.method,
        "options": dict(translator.options),
        "source_dim": translator.source_dim,
        "target_dim": translator.target_dim,
        "anchors_fingerprint": translator.anchors_fingerprint,
        "plan": translator.plan.flags(),
        "report": translator.report,
    }
    return _write(Path(directory), "translator", header, tensors)


def load_translator(directory: str | Path, expected_fingerprint: str | None = None) -> FittedTranslator:
    """Load and validate a translator written by :func:`save_translator`.

    Args:
        directory: the artifact directory.
        expected_fingerprint: if given, the anchors fingerprint the translator must have been fitted on.

    Raises:
        ValueError: every problem found (missing files, bad JSON, shapes, dims, checksum, fingerprint).
    """
    header, tensors, problems = _read(Path(directory), "translator", expected_fingerprint)
    d_in, d_out = header.get("source_dim"), header.get("target_dim")
    expected = {"plan.in_shift": (d_in,), "plan.matrix": (d_in, d_out), "plan.out_shift": (d_out,)}
    problems += _shape_problems(tensors, expected)
    _raise(directory, problems)
    flags = {_OLD_PLAN_KEYS.get(key, key): value for key, value in header["plan"].items()}
    plan = AffinePlan(**{name: tensors[f"plan.{name}"] for name in PLAN_ARRAYS}, **flags)
    state = {key.removeprefix("state."): value for key, value in tensors.items() if key.startswith("state.")}
    options = {_OLD_OPTION_KEYS.get(key, key): value for key, value in header["options"].items()}
    return FittedTranslator(header["method"], options, plan, state, header["report"], header["anchors_fingerprint"])


def save_projector(projector: RelativeProjector, directory: str | Path) -> Path:
    """Write ``projector.json`` and ``projector.safetensors`` into ``directory``."""
    tensors = {"mean": projector.mean, "anchors_unit": projector.anchors_unit}
    if projector.inverse is not None:
        tensors["inverse"] = projector.inverse
    header = {
        "dim": projector.dim,
        "n_anchors": projector.n_anchors,
        "scale": projector.scale,
        "options": as_dict(projector.options),
        "anchors_fingerprint": projector.anchors_fingerprint,
        "report": projector.report,
    }
    return _write(Path(directory), "projector", header, tensors)


def load_projector(directory: str | Path, expected_fingerprint: str | None = None) -> RelativeProjector:
    """Load and validate a projector written by :func:`save_projector` (same checks as translators)."""
    header, tensors, problems = _read(Path(directory), "projector", expected_fingerprint)
    d, k = header.get("dim"), header.get("n_anchors")
    expected = {"mean": (d,), "anchors_unit": (k, d)}
    if "inverse_unavailable" not in header.get("report", {}):
        expected["inverse"] = (k, d)
    problems += _shape_problems(tensors, expected)
    _raise(directory, problems)
    return RelativeProjector(
        mean=tensors["mean"],
        anchors_unit=tensors["anchors_unit"],
        inverse=tensors.get("inverse"),
        scale=header["scale"],
        # Projectors saved before near-square subsets were cut carry no aspect_limit: none of theirs was cut.
        options=IRPOptions(**{"aspect_limit": None, **header["options"]}),
        anchors_fingerprint=header["anchors_fingerprint"],
        report=header["report"],
    )


def _write(directory: Path, kind: str, header: dict[str, Any], tensors: dict[str, np.ndarray]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    weights = directory / f"{kind}.safetensors"
    save_file({name: np.ascontiguousarray(array) for name, array in tensors.items()}, str(weights))
    header = {
        "format": f"irp-pipeline.{kind}",
        "format_version": FORMAT_VERSION,
        "package_version": __version__,
        **header,
        "tensors": {name: list(array.shape) for name, array in tensors.items()},
        "tensors_sha256": _sha256(weights),
    }
    # Written last and atomically: a directory with a JSON header always has the tensors it describes.
    temporary = directory / f".{kind}.json.tmp"
    temporary.write_text(json.dumps(_jsonable(header), indent=2, allow_nan=False))
    os.replace(temporary, directory / f"{kind}.json")
    return directory


def _read(directory: Path, kind: str, expected_fingerprint: str | None) -> tuple[dict, dict, list[str]]:
    header_path, weights = directory / f"{kind}.json", directory / f"{kind}.safetensors"
    missing = [p.name for p in (header_path, weights) if not p.is_file()]
    if missing:
        _raise(directory, [f"missing {', '.join(missing)}: is this a {kind} directory written by irp-pipeline?"])
    try:
        header = json.loads(header_path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{header_path}: not valid JSON ({e}); the artifact is corrupt, rewrite it") from e
    problems = _header_problems(header, kind, expected_fingerprint)
    if header.get("tensors_sha256") != _sha256(weights):
        problems.append(f"{weights.name} does not match the checksum in {header_path.name} (modified or truncated)")
        return header, {}, problems
    tensors = load_file(str(weights))
    if set(tensors) != set(header.get("tensors", {})):
        problems.append(f"tensors {sorted(tensors)} differ from those listed in the header")
    problems += [f"tensor {name} has non-finite values" for name, a in tensors.items() if not np.isfinite(a).all()]
    return header, tensors, problems


def _header_problems(header: dict, kind: str, expected_fingerprint: str | None) -> list[str]:
    problems = [f"header lacks {key!r}" for key in _REQUIRED[kind] if key not in header]
    if header.get("format") != f"irp-pipeline.{kind}":
        problems.append(f"format is {header.get('format')!r}, expected 'irp-pipeline.{kind}'")
    if header.get("format_version") != FORMAT_VERSION:
        version = header.get("format_version")
        problems.append(f"format_version {version!r} is not supported (this reads {FORMAT_VERSION})")
    fingerprint = header.get("anchors_fingerprint")
    if not isinstance(fingerprint, str) or not _FINGERPRINT.match(fingerprint):
        problems.append(f"anchors_fingerprint {fingerprint!r} is not a sha256 hex digest")
    elif expected_fingerprint is not None and fingerprint != expected_fingerprint:
        problems.append(
            f"fitted on anchors {fingerprint[:12]}…, but these anchors are {expected_fingerprint[:12]}…; "
            "refit the translator on the current anchors"
        )
    return problems


def _shape_problems(tensors: dict[str, np.ndarray], expected: dict[str, tuple]) -> list[str]:
    return [
        f"tensor {name} has shape {tuple(tensors[name].shape)}, expected {shape} from the header dims"
        for name, shape in expected.items()
        if name in tensors and tuple(tensors[name].shape) != shape
    ] + [f"tensor {name} is missing" for name in expected if tensors and name not in tensors]


def _raise(directory: str | Path, problems: list[str]) -> None:
    if problems:
        raise ValueError(f"cannot load artifact {directory}:\n  - " + "\n  - ".join(problems))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _jsonable(value: Any) -> Any:
    """Make reports strict-JSON: numpy scalars to Python, non-finite floats (an infinite condition number) to text."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value
