"""The one format speed figures are published in, CPU benchmark and GPU check alike: ratio sections.

A section is ``{unit, ours, baseline, ours_what, baseline_what, ...}`` measured in one run; the report is a JSON
of ``{machine, sections, ...}`` plus a Markdown table beside it. No Ray here, so the GPU check can use it.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import time
from pathlib import Path
from typing import Any


def machine_info() -> dict[str, Any]:
    """What the figures were measured on."""
    import torch

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return {
        "cpu_count": os.cpu_count(),
        "device": device,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "ray": _version("ray"),
        "transformers": _version("transformers"),
        "platform": platform.platform(),
        "date": time.strftime("%Y-%m-%d"),
    }


def section(unit: str, ours: float, baseline: float, ours_what: str, baseline_what: str, **extra: Any) -> dict:
    return {
        "unit": unit,
        "ours": float(ours),
        "baseline": float(baseline),
        "ours_what": ours_what,
        "baseline_what": baseline_what,
        **extra,
    }


def ratio_line(name: str, figures: dict[str, Any]) -> str:
    ratio = figures["ours"] / figures["baseline"]
    return (
        f"{name}: {figures['ours']:.1f} vs {figures['baseline']:.1f} {figures['unit']} -> ratio {ratio:.2f} "
        f"({figures['ours_what']} / {figures['baseline_what']})"
    )


def markdown(results: dict[str, Any]) -> list[str]:
    """The sections as a Markdown table, then the machine."""
    machine = results["machine"]
    return [
        f"# {results.get('title', 'Speed against bare baselines')}",
        "",
        (
            "Each row measures our path and a bare baseline one after the other, on the same data, in the same run; "
            "ratio = ours / baseline (above 1: ours is higher)."
        ),
        "",
        "| section | ours | baseline | unit | ratio |",
        "|---|---|---|---|---|",
        *(
            (
                f"| {name} | {s['ours']:.1f} ({s['ours_what']}) | {s['baseline']:.1f} ({s['baseline_what']}) | "
                f"{s['unit']} | {s['ours'] / s['baseline']:.2f} |"
            )
            for name, s in results["sections"].items()
        ),
        "",
        (
            f"Machine: {machine['cpu_count']} CPU cores, {machine['device']}, Python {machine['python']}, "
            f"torch {machine['torch']}, ray {machine['ray']}; {machine['date']}."
        ),
    ]


def write_reports(stem: Path, results: dict[str, Any]) -> list[str]:
    """Write ``<stem>.json`` and ``<stem>.md``; return the Markdown lines."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    lines = markdown(results)
    stem.with_suffix(".json").write_text(json.dumps(results, indent=2, sort_keys=True, default=str) + "\n")
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    return lines


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"
