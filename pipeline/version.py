"""The package version: recorded in every table, manifest and artifact, and read by pyproject.toml."""

__version__ = "0.1.0"
