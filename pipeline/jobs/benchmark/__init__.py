"""The ``benchmark`` job (``irp benchmark``): our jobs against bare baselines on the same data, in the same run,
as ratios.

- ``config``: the job's schema; ``job``: the sections and their runner;
- ``inputs``: data the sections share; ``stores``: the store write sections and query translation; ``soak``: a
  long run with kills;
- ``report``: the one format speed figures are published in (ours against a bare baseline, same run).
"""

from pipeline.jobs.benchmark.config import BENCHMARK_SECTIONS, BenchmarkConfig
from pipeline.jobs.benchmark.job import main, run

__all__ = ["BENCHMARK_SECTIONS", "BenchmarkConfig", "main", "run"]
