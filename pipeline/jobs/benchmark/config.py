"""The ``benchmark`` job's config: the sections to run, their data sizes, and where the report goes."""

from __future__ import annotations

import dataclasses

from pipeline.packaged import list_packaged_models

# The benchmark's sections, in the order they run (pipeline.jobs.benchmark.job.SECTIONS holds their code).
BENCHMARK_SECTIONS = (
    "embed",
    "translate",
    "bucketing",
    "actors",
    "memory",
    "lancedb_write",
    "delta_write",
    "pgvector_write",
    "query_translation",
    "soak",
)
ON_REQUEST = ("pgvector_write", "soak")  # run only when named in `sections`: they need a dsn, or take long


@dataclasses.dataclass(frozen=True)
class BenchmarkConfig:
    """The ``benchmark`` job: our jobs against bare baselines, same data, same run.

    Attributes:
        texts: BBC News articles (cut to mixed lengths) for the embed, bucketing and actors sections.
        model: packaged text model.
        max_length: tokens per article for both our encoder and the baselines.
        translate_rows: rows of the random vector corpus of the translate section: enough that the job's fixed
            costs (planning, claiming the output, starting task processes, 2 to 5 s here) do not decide the ratio.
        rows_per_shard: Parquet row group size of that corpus (one shard each).
        dims: source and target widths of the translation.
        memory_file_mb: size of the larger JSONL file of the memory section (the smaller is a tenth of it).
        actors: actors of the embed and translate jobs.
        store_rows: rows of the vector corpus of the store write sections (as many as the translate section: fixed
            costs must not decide the ratio).
        queries: queries translated one at a time in the query_translation section.
        dsn: a PostgreSQL (with pgvector) the pgvector_write section writes to; without it, that section is
            skipped. Never recorded in the report.
        soak_rows: rows of the soak section's corpus (it runs only when named in ``sections``).
        sections: run only these sections (default: all but pgvector_write, which needs a dsn, and soak).
        output: path stem of the report: ``<output>.md`` and ``<output>.json``.
        work_dir: scratch directory for inputs and outputs.
    """

    texts: int = 5000
    model: str = "all-MiniLM-L6-v2"
    max_length: int = 256
    translate_rows: int = 600_000
    rows_per_shard: int = 25_000
    dims: tuple[int, ...] = (384, 768)
    memory_file_mb: float = 1024
    actors: int = 2
    store_rows: int = 600_000
    queries: int = 20_000
    soak_rows: int = 5_000_000
    dsn: str | None = dataclasses.field(default=None, repr=False)
    sections: tuple[str, ...] = ()
    output: str = "docs/benchmarks/cpu"
    work_dir: str = "out/benchmark"

    def chosen_sections(self) -> tuple[str, ...]:
        """The sections to run: those asked for, or all but those that need what was not given."""
        return self.sections or tuple(
            name for name in BENCHMARK_SECTIONS if name not in ON_REQUEST or (name == "pgvector_write" and self.dsn)
        )

    def problems(self) -> list[str]:
        found = (
            []
            if self.model in list_packaged_models()
            else [f"model: {self.model!r} is not a packaged model; choose from {list_packaged_models()}"]
        )
        found += [
            f"{key}: must be >= {low}"
            for key, low in (
                ("texts", 8),
                ("translate_rows", 1000),
                ("rows_per_shard", 100),
                ("actors", 1),
                ("max_length", 8),
                ("memory_file_mb", 1),
                ("store_rows", 1000),
                ("queries", 1),
                ("soak_rows", 1000),
            )
            if getattr(self, key) < low
        ]
        found += [
            f"sections: unknown section {name!r}; choose from {list(BENCHMARK_SECTIONS)}"
            for name in self.sections
            if name not in BENCHMARK_SECTIONS
        ]
        if "pgvector_write" in self.sections and not self.dsn:
            found.append("dsn: the pgvector_write section needs a PostgreSQL with pgvector to write to")
        return found + ([] if len(self.dims) == 2 else ["dims: give [source width, target width]"])
