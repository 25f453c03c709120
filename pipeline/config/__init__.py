"""Typed, strict job configs (YAML + dotted overrides), every error reported at once, before Ray starts.

- ``loader``: read YAML, apply ``key.sub=value`` overrides, build with the one strict builder (``pipeline.strict``);
- ``blocks``: the blocks jobs share: source, encoder, translator, output, execution, anchors;
- ``jobs``, ``evaluate``, ``sync``: each job's schema.
"""

from pipeline.config.blocks import (
    AnchorsConfig,
    EncoderConfig,
    ExecutionConfig,
    OutputConfig,
    SourceConfig,
    TranslatorConfig,
)
from pipeline.config.evaluate import EvalSpaceConfig, EvaluateConfig, LabelsConfig, RetrievalSetConfig
from pipeline.config.jobs import BenchmarkConfig, DemoConfig, EmbedConfig, TargetConfig, TranslateConfig
from pipeline.config.loader import ConfigError, load_config
from pipeline.config.sync import SyncConfig

__all__ = [
    "AnchorsConfig",
    "BenchmarkConfig",
    "ConfigError",
    "DemoConfig",
    "EmbedConfig",
    "EncoderConfig",
    "EvalSpaceConfig",
    "EvaluateConfig",
    "ExecutionConfig",
    "LabelsConfig",
    "OutputConfig",
    "RetrievalSetConfig",
    "SourceConfig",
    "SyncConfig",
    "TargetConfig",
    "TranslateConfig",
    "TranslatorConfig",
    "load_config",
]
