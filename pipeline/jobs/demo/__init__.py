"""The ``demo`` job (``make demo``): a vector-store migration on packaged models and data, end to end."""

from pipeline.jobs.demo.config import DemoConfig
from pipeline.jobs.demo.job import main, run

__all__ = ["DemoConfig", "main", "run"]
