"""The ``embed`` job (``irp embed``): a source's texts or images into an embedding table."""

from pipeline.jobs.embed.config import EmbedConfig
from pipeline.jobs.embed.job import embedding_output, main, run, run_embed

__all__ = ["EmbedConfig", "embedding_output", "main", "run", "run_embed"]
