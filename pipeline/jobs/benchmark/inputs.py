"""Inputs the benchmark sections share: a random vector corpus, and a translate job over it into any output."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from pipeline.config import ExecutionConfig, OutputConfig, SourceConfig, SourceFormat
from pipeline.engine.summary import Summary
from pipeline.io.tables import embedding_table
from pipeline.jobs.benchmark.config import BenchmarkConfig
from pipeline.jobs.translate_corpus import AnchorsConfig, TranslateConfig, run_translate
from pipeline.translate.config import TranslatorConfig


def vector_corpus(work: Path, rows: int, rows_per_shard: int, dim: int) -> Path:
    """A random ``(rows, dim)`` vector table in row groups of ``rows_per_shard`` (one shard each)."""
    work.mkdir(parents=True, exist_ok=True)
    path = work / "corpus.parquet"
    rng = np.random.default_rng(0)
    with pq.ParquetWriter(path, embedding_table([0], np.zeros((1, dim), np.float32)).schema) as writer:
        for start in range(0, rows, rows_per_shard):
            n = min(rows_per_shard, rows - start)
            vectors = rng.normal(size=(n, dim)).astype(np.float32)
            writer.write_table(embedding_table(list(range(start, start + n)), vectors))
    return path


def translate_job(
    config: BenchmarkConfig, work: Path, corpus: Path, fmt: SourceFormat = "parquet", output: OutputConfig | None = None
) -> Summary:
    """The translate_corpus job with ridge on random anchors (``1000 x dims``), into ``output`` (default Parquet)."""
    rng = np.random.default_rng(1)
    d_s, d_t = config.dims
    source = rng.normal(size=(1000, d_s)).astype(np.float32)
    pq.write_table(embedding_table(list(range(1000)), source), work / "anchors_source.parquet")
    target = source @ rng.normal(size=(d_s, d_t)).astype(np.float32)
    pq.write_table(embedding_table(list(range(1000)), target), work / "anchors_target.parquet")
    return run_translate(
        TranslateConfig(
            source=SourceConfig(str(corpus), format=fmt, vector_column="embedding"),
            anchors=AnchorsConfig(
                target=str(work / "anchors_target.parquet"), source=str(work / "anchors_source.parquet")
            ),
            output=output or OutputConfig(str(work / "out"), overwrite=True),
            translator=TranslatorConfig("ridge"),
            execution=ExecutionConfig(actors=config.actors),
        ),
        say=lambda line: None,
    )
