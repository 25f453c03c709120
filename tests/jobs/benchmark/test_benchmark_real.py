"""The benchmark job runs every section at a tiny size and writes ratios, JSON and Markdown."""

from __future__ import annotations

import json

import pytest

from pipeline.config import load_config
from pipeline.jobs.benchmark import BenchmarkConfig

pytestmark = [pytest.mark.ray, pytest.mark.real, pytest.mark.slow, pytest.mark.timeout(900)]


def test_benchmark_writes_every_section_with_checked_parity(tmp_path, pg_dsn):
    from pipeline.jobs.benchmark import BENCHMARK_SECTIONS, run
    from pipeline.jobs.benchmark.job import SECTIONS

    assert tuple(SECTIONS) == BENCHMARK_SECTIONS  # the config's names and the code's sections agree
    config = load_config(
        BenchmarkConfig,
        None,
        [
            "texts=16",
            "translate_rows=4000",
            "rows_per_shard=500",
            "memory_file_mb=4",
            "store_rows=2000",
            "queries=200",
            "soak_rows=3000",
            f"sections=[{','.join(BENCHMARK_SECTIONS)}]",
            f"output={tmp_path}/report/cpu",
            f"work_dir={tmp_path}/work",
            f"dsn={pg_dsn}",
        ],
    )
    lines = run(config, say=lambda line: None)
    report = (tmp_path / "report" / "cpu.json").read_text()
    assert pg_dsn not in report and "password" not in report  # the connection string is never recorded
    results = json.loads(report)
    assert sorted(results["sections"]) == sorted(SECTIONS)
    for name, section in results["sections"].items():
        assert section["ours"] > 0 and section["baseline"] > 0, name
        assert any(line.startswith(f"| {name} |") for line in lines)
    sections = results["sections"]
    assert sections["embed"]["min_cosine_to_baseline"] > 0.999  # the job's vectors are sentence-transformers'
    assert sections["bucketing"]["max_abs_difference"] < 1e-4  # buckets change the speed, not the vectors
    assert results["machine"]["cpu_count"] >= 1
    assert "| section | ours | baseline |" in (tmp_path / "report" / "cpu.md").read_text()
