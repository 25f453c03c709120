"""Typed, strict job configs (YAML + dotted overrides), every error reported at once, before Ray starts.

The leaf of the house: it imports only the strict builder (:mod:`pipeline.strict`) and the standard library.

- ``loader``: read YAML, apply ``key.sub=value`` overrides, build with the one strict builder;
- ``blocks``: the blocks jobs share (source, output, execution, index) and the defaults they pass down;
- ``paths``: the path rules every config passes (an output never overlaps its source).

A job's own schema lives in its package (``pipeline.jobs.<name>.config``); the translator and encoder blocks live
beside their registries (``pipeline.translate.config``, ``pipeline.encoders.config``).
"""

from pipeline.config.blocks import (
    CHUNK_BYTES,
    CHUNK_ROWS,
    FILE_FORMATS,
    INDEX_KINDS,
    MAX_IMAGE_PIXELS,
    OUTPUT_FORMATS,
    STORE_FORMATS,
    ExecutionConfig,
    IndexSpec,
    OutputConfig,
    OutputFormat,
    SourceConfig,
    SourceFormat,
)
from pipeline.config.loader import ConfigError, load_config
from pipeline.config.paths import PACKAGE_SCHEME, Place, overlap_problems, package_path_problems

__all__ = [
    "CHUNK_BYTES",
    "CHUNK_ROWS",
    "FILE_FORMATS",
    "INDEX_KINDS",
    "MAX_IMAGE_PIXELS",
    "OUTPUT_FORMATS",
    "PACKAGE_SCHEME",
    "STORE_FORMATS",
    "ConfigError",
    "ExecutionConfig",
    "IndexSpec",
    "OutputConfig",
    "OutputFormat",
    "Place",
    "SourceConfig",
    "SourceFormat",
    "load_config",
    "overlap_problems",
    "package_path_problems",
]
