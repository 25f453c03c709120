"""The ``benchmark`` job: our jobs against bare baselines on the same data, in the same run, as ratios.

Timed assertions would flake on noisy machines, so speed is reported, not asserted: every section measures our
path and a bare baseline one after the other and prints ``ours / baseline`` (above 1 is faster for throughput,
below 1 for memory). Sections:

- ``embed``: the ``embed`` job end to end (actors start, load the model, read, encode, write) against a plain
  ``SentenceTransformer.encode`` loop on the same texts (model loaded beforehand, nothing written);
- ``translate``: the ``translate_corpus`` job on a vector table against a plain pyarrow read of it and a write of
  a table of the output's shape (same ids, target-width vectors, same compression);
- ``bucketing``: our encoder's token-budget, length-bucketed batches against fixed-size batches in input order,
  each padded to its longest row, on articles cut to mixed lengths (every section uses those texts);
- ``actors``: the ``embed`` job with 2 actors against 1;
- ``memory``: the actors' peak RSS translating one JSONL file of stored vectors 10x larger than another (chunks
  keep it flat: a ratio near 1);
- the stores' write sections and ``query_translation`` (:mod:`pipeline.jobs.benchmark.stores`).

``sections`` in the config runs some of them only.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.config import ExecutionConfig, OutputConfig, SourceConfig
from pipeline.encoders import EncoderConfig
from pipeline.engine.cluster import warm_up
from pipeline.engine.summary import Summary
from pipeline.io.tables import embedding_table, vectors_of
from pipeline.jobs.benchmark.config import BenchmarkConfig
from pipeline.jobs.benchmark.inputs import translate_job, vector_corpus
from pipeline.jobs.benchmark.report import machine_info, ratio_line, section, write_reports
from pipeline.jobs.benchmark.soak import bench_soak
from pipeline.jobs.benchmark.stores import STORE_SECTIONS
from pipeline.jobs.embed import EmbedConfig, run_embed
from pipeline.provenance import config_snapshot


def run(config: BenchmarkConfig, say: Callable[[str], None] = print) -> list[str]:
    """Run every section, write ``<output>.json`` and ``<output>.md``, and return the Markdown table's lines."""
    work = Path(config.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    warm_up(ExecutionConfig())  # Ray's start-up (Ray Data's too) is paid once here, outside every timed section
    sections: dict[str, dict[str, Any]] = {}
    results = {
        "title": "CPU benchmark: our jobs against bare baselines",
        "machine": machine_info(),
        "config": config_snapshot(config),
        "sections": sections,
    }
    texts = benchmark_texts(config.texts)
    for name, measure in SECTIONS.items():
        if name not in config.chosen_sections():
            continue
        say(f"[benchmark] {name} ...")
        sections[name] = measure(config, work / name, texts)
        say("  " + ratio_line(name, sections[name]))
    output = Path(config.output)
    lines = write_reports(output, results)
    return [*lines, f"\nwritten: {output.with_suffix('.md')} and {output.with_suffix('.json')}"]


def main(argv: list[str] | None = None) -> int:
    from pipeline.jobs.entry import run_configured_job

    return run_configured_job(argv, "benchmark", __doc__.splitlines()[0], BenchmarkConfig, run)


def bench_embed(config: BenchmarkConfig, work: Path, texts: list[str]) -> dict[str, Any]:
    """The embed job (``config.actors`` actors) against ``SentenceTransformer.encode``; plus per-row parity."""
    from sentence_transformers import SentenceTransformer

    from pipeline.packaged import packaged_model_dir

    summary, table = _embed_job(config, work, texts, config.actors)
    model = SentenceTransformer(str(packaged_model_dir(config.model)), device="cpu")
    model.max_seq_length = config.max_length
    start = time.perf_counter()
    reference = model.encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
    bare_seconds = time.perf_counter() - start
    ours = vectors_of(table.sort_by("id").column("embedding"))
    return section(
        "texts/s",
        summary.rows_per_second,
        len(texts) / bare_seconds,
        f"embed job, {config.actors} actors, end to end",
        "SentenceTransformer.encode",
        min_cosine_to_baseline=float(np.min(np.sum(ours * reference, axis=1))),
        worker_seconds=dict(summary.stage_seconds),
        # Without the job's fixed costs (actors start, models load): rows over the actors' own time,
        # the model's stage only (reading, tokenizing and writing run in CPU tasks beside it).
        actors_own_texts_per_s=len(texts) / (_actor_seconds(summary) / config.actors),
    )


def bench_translate(config: BenchmarkConfig, work: Path, texts: list[str]) -> dict[str, Any]:
    """The translate_corpus job on a vector table against reading and writing the same table with pyarrow."""
    corpus = vector_corpus(work, config.translate_rows, config.rows_per_shard, config.dims[0])
    summary = translate_job(config, work, corpus)
    start = time.perf_counter()
    table = pq.read_table(corpus)
    vectors = vectors_of(table.column("embedding"))
    widened = np.resize(vectors, (len(vectors), config.dims[1]))  # the output's shape; no translation, bare IO
    pq.write_table(embedding_table(table.column("id"), widened), work / "bare_copy.parquet", compression="zstd")
    bare_seconds = time.perf_counter() - start
    return section(
        "rows/s",
        summary.rows_per_second,
        config.translate_rows / bare_seconds,
        f"translate_corpus job, one task per core, {config.translate_rows} x {config.dims[0]} -> {config.dims[1]}",
        f"pyarrow read_table + write_table of {config.dims[1]}-d rows",
        worker_seconds=dict(summary.stage_seconds),
    )


def bench_bucketing(config: BenchmarkConfig, work: Path, texts: list[str]) -> dict[str, Any]:
    """Our token-budget buckets against fixed-size batches in input order, one process, same weights."""
    from transformers import AutoTokenizer

    from pipeline.encoders.hf_text import HFTextEncoder, HFTextSpec
    from pipeline.packaged import packaged_model_dir

    model_dir = str(packaged_model_dir(config.model))
    encoder = HFTextEncoder(HFTextSpec(model=model_dir, max_length=config.max_length))
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    start = time.perf_counter()
    ours = encoder.encode(texts)
    ours_seconds = time.perf_counter() - start
    start = time.perf_counter()
    fixed = fixed_size_batches(encoder, tokenizer, texts, batch_size=64)
    fixed_seconds = time.perf_counter() - start
    return section(
        "texts/s",
        len(texts) / ours_seconds,
        len(texts) / fixed_seconds,
        f"token budget {encoder.spec.token_budget}, length-sorted, bucket {encoder.bucket}",
        "64 rows per batch, input order",
        max_abs_difference=float(np.max(np.abs(ours - fixed))),
    )


def bench_actors(config: BenchmarkConfig, work: Path, texts: list[str]) -> dict[str, Any]:
    """The embed job with 2 actors against 1 actor (on a 2-core machine both share the same cores)."""
    one, _ = _embed_job(config, work / "one", texts, actors=1)
    two, _ = _embed_job(config, work / "two", texts, actors=2)
    return section("texts/s", two.rows_per_second, one.rows_per_second, "embed job, 2 actors", "embed job, 1 actor")


def bench_memory(config: BenchmarkConfig, work: Path, texts: list[str]) -> dict[str, Any]:
    """Peak RSS of the translate actors on one JSONL file of stored vectors and on one 10x larger.

    A big file is cut into chunks of ``execution.chunk_bytes`` (default 64 MiB) at record ends, so an actor holds
    one chunk at a time whatever the file size.
    """
    peaks, task_peaks, files = {}, {}, {"small": config.memory_file_mb / 10, "large": config.memory_file_mb}
    for label, megabytes in files.items():
        corpus = _jsonl_vectors(work / label, int(megabytes * (1 << 20)), config.dims[0])
        summary = translate_job(config, work / label, corpus, "jsonl")
        peaks[label] = max(worker["peak_rss_mb"] for worker in summary.workers)
        task_peaks[label] = summary.task_peaks()
    return section(
        "MB peak RSS per actor",
        peaks["large"],
        peaks["small"],
        f"one {files['large']:g} MB JSONL file",
        f"one {files['small']:g} MB JSONL file",
        prepare_and_write_task_peaks_mb=task_peaks,
    )


def _actor_seconds(summary: Summary) -> float:
    """Seconds the actors spent in the model's stage (encode or stored vectors, then translate)."""
    return sum(summary.stage_seconds.get(stage, 0.0) for stage in ("encode", "vectors", "translate"))


SECTIONS: dict[str, Callable[[BenchmarkConfig, Path, list[str]], dict[str, Any]]] = {
    "embed": bench_embed,
    "translate": bench_translate,
    "bucketing": bench_bucketing,
    "actors": bench_actors,
    "memory": bench_memory,
    **STORE_SECTIONS,
    "soak": bench_soak,
}


def fixed_size_batches(encoder: Any, tokenizer: Any, texts: list[str], batch_size: int) -> np.ndarray:
    """The naive loop: tokenize ``batch_size`` texts in input order with the transformers ``tokenizer``, pad to
    the longest, forward through ``encoder``'s model, mean-pool."""
    import torch

    out = []
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            batch = tokenizer(
                texts[start : start + batch_size],
                padding=True,
                truncation=True,
                max_length=encoder.max_length,
                return_tensors="pt",
            )
            hidden = encoder.model(**batch).last_hidden_state.float()
            mask = batch["attention_mask"].unsqueeze(-1).float()
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            out.append(torch.nn.functional.normalize(pooled, dim=1).numpy())
    return np.concatenate(out)


def benchmark_texts(n: int, seed: int = 0) -> list[str]:
    """``n`` texts from BBC News articles cut to mixed lengths: 5 to 400 words, log-uniform, in a seeded order.

    Whole articles mostly exceed a 256-token limit, so every row would be truncated to the same length and no
    batching scheme would pad; real corpora mix titles, snippets and long bodies.
    """
    from pipeline.packaged import load_bbc_news

    texts = load_bbc_news().texts
    rng = np.random.default_rng(seed)
    # More rows than articles cycle through them again, each time cut to another length.
    order = np.concatenate([rng.permutation(len(texts)) for _ in range(-(-n // len(texts)))])[:n]
    words = np.exp(rng.uniform(np.log(5), np.log(400), size=n)).astype(int)
    return [" ".join(texts[i].split()[:k]) for i, k in zip(order, words, strict=True)]


def _embed_job(config: BenchmarkConfig, work: Path, texts: list[str], actors: int) -> tuple[Summary, pa.Table]:
    source = work / "texts.parquet"
    work.mkdir(parents=True, exist_ok=True)
    rows_per_group = max(1, len(texts) // (4 * actors))  # a few shards per actor
    pq.write_table(pa.table({"id": list(range(len(texts))), "text": texts}), source, row_group_size=rows_per_group)
    encoder = EncoderConfig("hf_text", {"model": f"packaged:{config.model}", "max_length": config.max_length})
    output = OutputConfig(str(work / "out"), overwrite=True)
    summary = run_embed(
        EmbedConfig(SourceConfig(str(source), text_column="text"), encoder, output, ExecutionConfig(actors=actors))
    )
    return summary, pq.read_table(work / "out", columns=["id", "embedding"])


def _jsonl_vectors(work: Path, size: int, dim: int) -> Path:
    """One JSONL file of about ``size`` bytes: ``{"id": i, "embedding": [dim floats]}`` rows (1,000 vectors, cycled)."""
    work.mkdir(parents=True, exist_ok=True)
    path = work / "corpus.jsonl"
    vectors = [json.dumps(v) for v in np.round(np.random.default_rng(0).normal(size=(1000, dim)), 5).tolist()]
    written, row = 0, 0
    with open(path, "w") as f:
        while written < size:
            block = "".join(f'{{"id": {row + i}, "embedding": {vectors[(row + i) % 1000]}}}\n' for i in range(1000))
            f.write(block)
            written, row = written + len(block), row + 1000
    return path
