"""Typed, strict job configs (YAML + dotted overrides), every error reported at once, before Ray starts."""

from pipeline.config.blocks import TranslatorConfig
from pipeline.config.jobs import DemoConfig
from pipeline.config.loader import ConfigError, load_config

__all__ = ["ConfigError", "DemoConfig", "TranslatorConfig", "load_config"]
