"""Typed, strict job configs (YAML + dotted overrides), every error reported at once, before Ray starts."""

from pipeline.config.blocks import EncoderConfig, ExecutionConfig, OutputConfig, SourceConfig, TranslatorConfig
from pipeline.config.jobs import DemoConfig, EmbedConfig
from pipeline.config.loader import ConfigError, load_config

__all__ = [
    "ConfigError",
    "DemoConfig",
    "EmbedConfig",
    "EncoderConfig",
    "ExecutionConfig",
    "OutputConfig",
    "SourceConfig",
    "TranslatorConfig",
    "load_config",
]
