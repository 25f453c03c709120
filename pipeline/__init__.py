"""irp-pipeline: translate embeddings between models through shared anchor-relative projections.

The public API, re-exported here and imported on first use (``import pipeline`` stays cheap: no numpy, torch or
Ray until a name is touched)::

    from pipeline import fit_translator, load_translator, save_translator, RelativeProjector
    from pipeline import build_encoder, load_config

The house: ``translate/`` (the pure math core), ``encoders/`` (one module per model family), ``io/`` (sources,
sinks, the table contract, anchor tables), ``config/`` (strict YAML job configs), ``engine/`` (driver, worker,
quarantine rules and the Ray pool), ``evaluate/`` (metrics, protocol, decoders, reports) and ``jobs/`` (one
module per job).
"""

from __future__ import annotations

import importlib
from typing import Any

from pipeline.version import __version__

# name -> module that defines it
_PUBLIC = {
    "fit_translator": "pipeline.translate",
    "load_translator": "pipeline.translate",
    "save_translator": "pipeline.translate",
    "load_projector": "pipeline.translate",
    "save_projector": "pipeline.translate",
    "list_methods": "pipeline.translate",
    "FittedTranslator": "pipeline.translate",
    "RelativeProjector": "pipeline.translate",
    "build_encoder": "pipeline.encoders",
    "list_encoders": "pipeline.encoders",
    "Encoder": "pipeline.encoders",
    "load_config": "pipeline.config",
    "ConfigError": "pipeline.config",
}

__all__ = [  # noqa: RUF022 - the version first, then the API in _PUBLIC's order
    "__version__",
    "fit_translator",
    "load_translator",
    "save_translator",
    "load_projector",
    "save_projector",
    "list_methods",
    "FittedTranslator",
    "RelativeProjector",
    "build_encoder",
    "list_encoders",
    "Encoder",
    "load_config",
    "ConfigError",
]


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'pipeline' has no attribute {name!r}")
    return getattr(importlib.import_module(_PUBLIC[name]), name)
