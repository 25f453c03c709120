"""The config schema of each job; a job's ``main`` loads its schema with ``load_config``."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from pipeline.config.blocks import (
    AnchorsConfig,
    EncoderConfig,
    ExecutionConfig,
    OutputConfig,
    SourceConfig,
    TranslatorConfig,
)
from pipeline.config.paths import overlap_problems


@dataclasses.dataclass(frozen=True)
class DemoConfig:
    """The ``demo`` job: migrate BBC News embedded by one packaged model into another's space, and score it.

    Attributes:
        source_model, target_model: packaged model names (``pipeline.packaged.list_packaged_models()``).
        anchors: training articles the target model embeds as anchors (they also train its decoder).
        test: held-out articles the translated vectors are scored on.
        target_max_length: tokens per article for the target model (mpnet's own 384 takes ~15 min on 2 cores).
        seed: seeds the split.
        translator: the estimator of the translate job.
        output: directory that receives every table of the demo (a LanceDB database under ``lancedb/``).
        execution: how the jobs run on the embedded local Ray.
    """

    source_model: str = "all-MiniLM-L6-v2"
    target_model: str = "all-mpnet-base-v2"
    anchors: int = 500
    test: int = 400
    target_max_length: int = 128
    seed: int = 0
    translator: TranslatorConfig = dataclasses.field(default_factory=TranslatorConfig)
    output: str = "out/demo"
    execution: ExecutionConfig = dataclasses.field(default_factory=lambda: ExecutionConfig(actors=2))

    def problems(self) -> list[str]:
        from pipeline.packaged import list_packaged_models

        found = [
            f"{key}: {getattr(self, key)!r} is not a packaged model; choose from {list_packaged_models()}"
            for key in ("source_model", "target_model")
            if getattr(self, key) not in list_packaged_models()
        ]
        # The held-out articles become a LanceDB table with an IVF-PQ index, which trains on at least 256 rows.
        lows = (("anchors", 3), ("test", 256), ("target_max_length", 8))
        return found + [f"{key}: must be >= {low}" for key, low in lows if getattr(self, key) < low]


@dataclasses.dataclass(frozen=True)
class EmbedConfig:
    """The ``embed`` job: encode a table's text or images into an embedding table (corpora and anchors alike)."""

    source: SourceConfig
    encoder: EncoderConfig
    output: OutputConfig
    execution: ExecutionConfig = dataclasses.field(default_factory=ExecutionConfig)

    def problems(self) -> list[str]:
        if self.source.modality == "vector":
            return ["source: embed needs a text_column or image_column (vectors need no encoding)"]
        return overlap_problems(self.source.place, {"output": self.output.place})


@dataclasses.dataclass(frozen=True)
class TargetConfig:
    """One target space of a ``translate_corpus`` job: its anchors, its translator and its output table.

    Attributes:
        anchors: the anchors shared with the source space.
        output: where the translated table goes.
        translator: the estimator; the job's top-level ``translator`` when omitted.
    """

    anchors: AnchorsConfig
    output: OutputConfig
    translator: TranslatorConfig | None = None


@dataclasses.dataclass(frozen=True)
class TranslateConfig:
    """The ``translate_corpus`` job: a corpus into other models' spaces through shared anchors.

    A source that holds vectors (``vector_column``) is translated without touching any model. A source of texts
    or images names an ``encoder``; each actor then encodes once and translates into every target in one pass.
    One target is given by top-level ``anchors`` and ``output`` (DESIGN.md §4); several by ``targets``, a
    mapping of names to ``{anchors, output, translator}``. ``source_output`` also writes the source-space vectors.
    """

    source: SourceConfig
    anchors: AnchorsConfig | None = None
    output: OutputConfig | None = None
    translator: TranslatorConfig = dataclasses.field(default_factory=TranslatorConfig)
    targets: Mapping[str, TargetConfig] = dataclasses.field(default_factory=dict)
    source_output: OutputConfig | None = None
    encoder: EncoderConfig | None = None
    execution: ExecutionConfig = dataclasses.field(default_factory=ExecutionConfig)

    def target_list(self) -> dict[str, TargetConfig]:
        """Every target by name, each with its translator filled in."""
        if not self.targets:
            return {"target": TargetConfig(self.anchors, self.output, self.translator)}
        return {name: dataclasses.replace(target, translator=target.translator or self.translator)
                for name, target in self.targets.items()}

    def problems(self) -> list[str]:
        found = self._shape_problems()
        if self.source.modality == "vector" and self.encoder is not None:
            found.append("encoder: the source already holds vectors (vector_column); drop the encoder block")
        if self.source.modality != "vector" and self.encoder is None:
            found.append(f"encoder: required to embed the source's {self.source.content_column} column")
        if self.source_output is not None and self.encoder is None:
            found.append("source_output: the source vectors already exist; only a raw corpus writes them")
        if found:
            return found
        for name, target in self.target_list().items():
            where = f"targets.{name}.anchors" if self.targets else "anchors"
            if target.anchors.source is None and target.anchors.set is None and self.source.modality != "vector":
                found.append(f"{where}.source: required unless the corpus holds the source vectors "
                             "(vector_column) or the job embeds an anchor set")
            if target.anchors.passages and self.encoder is None:
                found.append(f"{where}.passages: the source model must embed the paragraphs too, and a corpus of "
                             "stored vectors names none; add them to the anchor set as rows of their own, with a "
                             "source table of their old vectors")
        outputs = [target.output.path for target in self.target_list().values()]
        outputs += [self.source_output.path] if self.source_output else []
        if len(set(outputs)) != len(outputs):
            key = "targets" if self.targets else "source_output.path"
            found.append(f"{key}: every output needs its own path; got {outputs}")
        places = {f"targets.{name}.output" if self.targets else "output": target.output.place
                  for name, target in self.target_list().items()}
        if self.source_output is not None:
            places["source_output"] = self.source_output.place
        return found + overlap_problems(self.source.place, places)

    def _shape_problems(self) -> list[str]:
        if self.targets:
            given = [key for key in ("anchors", "output") if getattr(self, key) is not None]
            return [f"{key}: give it per target under targets.<name>, not beside targets" for key in given]
        return [f"{key}: required (or name several targets under targets)" for key in ("anchors", "output")
                if getattr(self, key) is None]


# The benchmark's sections, in the order they run (pipeline.jobs.benchmark.SECTIONS holds their code).
BENCHMARK_SECTIONS = ("embed", "translate", "bucketing", "actors", "memory", "lancedb_write", "delta_write",
                      "pgvector_write", "query_translation", "soak")
ON_REQUEST = ("pgvector_write", "soak")  # run only when named in `sections`: they need a dsn, or take long


@dataclasses.dataclass(frozen=True)
class BenchmarkConfig:
    """The ``benchmark`` job: our jobs against bare baselines, same data, same run (pipeline.jobs.benchmark).

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
        return self.sections or tuple(name for name in BENCHMARK_SECTIONS if name not in ON_REQUEST
                                      or (name == "pgvector_write" and self.dsn))

    def problems(self) -> list[str]:
        from pipeline.packaged import list_packaged_models

        found = [] if self.model in list_packaged_models() else [
            f"model: {self.model!r} is not a packaged model; choose from {list_packaged_models()}"]
        found += [f"{key}: must be >= {low}" for key, low in (("texts", 8), ("translate_rows", 1000),
                                                             ("rows_per_shard", 100), ("actors", 1), ("max_length", 8),
                                                             ("memory_file_mb", 1), ("store_rows", 1000),
                                                             ("queries", 1), ("soak_rows", 1000))
                  if getattr(self, key) < low]
        found += [f"sections: unknown section {name!r}; choose from {list(BENCHMARK_SECTIONS)}"
                  for name in self.sections if name not in BENCHMARK_SECTIONS]
        if "pgvector_write" in self.sections and not self.dsn:
            found.append("dsn: the pgvector_write section needs a PostgreSQL with pgvector to write to")
        return found + ([] if len(self.dims) == 2 else ["dims: give [source width, target width]"])
