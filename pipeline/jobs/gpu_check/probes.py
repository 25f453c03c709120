"""The GPU check's probes: the encoder's CUDA speed path and the fused translation plan, each timed alone.

No Ray and no open_clip (a GPU machine here lacks both); torch, transformers and the project's encoder and
translation core only. Each probe returns a JSON-ready dict; ``pipeline.jobs.gpu_check`` runs them and writes the
report. On a CPU the same probes run at tiny sizes (:data:`CPU_SIZES`), which proves the wiring only.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import torch

from pipeline.encoders.hf_text import HFTextEncoder, HFTextSpec
from pipeline.translate import fit_translator

PARITY_MIN_COSINE = 0.99


@dataclass(frozen=True)
class Sizes:
    """Workload sizes: the GPU figures use the shapes of docs/gpu_check.md; the CPU ones only prove the wiring."""

    bare_rows: int  # bare forward batch: rows x tokens of random ids
    bare_tokens: int
    batch_size: int  # encoder: most rows per forward pass
    token_budget: int  # encoder: most padded tokens per forward pass
    st_batch: int  # sentence-transformers batch size
    plan_rows: int  # vectors per translation call
    plan_dims: tuple[int, int, int]  # anchors k, d_in, d_out of the random translation problem
    parity_texts: int
    repeats: int
    stage_rows: int  # engine stages: texts through prepare processes, the model and the writer
    stage_chunk_rows: int  # rows per chunk file there


GPU_SIZES = Sizes(1024, 128, 1024, 1024 * 128, 512, 1 << 20, (1000, 384, 768), 64, 5, 400_000, 8192)
# Fitting the 1000-anchor problem alone takes ~10 s on two CPU cores, hence a tiny one there.
CPU_SIZES = Sizes(4, 16, 8, 1024, 8, 1024, (48, 16, 32), 16, 1, 32, 8)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def best_seconds(fn: Callable[[], object], device: str, repeats: int) -> float:
    """Best wall time of ``repeats`` calls of ``fn`` after one warm-up call, the device synchronized each time."""
    fn()
    _sync(device)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return best


def synthetic_texts(n: int, seed: int = 0) -> list[str]:
    """``n`` texts of mixed length (5 to about 200 words, most near 60): BBC-like without the BBC."""
    words = (
        "the government said on monday that its plans for new rules on trade and energy would cost more "
        "than expected while shares in the company rose after strong sales of phones and games abroad"
    ).split()
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


def encoder_for(model_dir: str, device: str, sizes: Sizes, **options: Any) -> HFTextEncoder:
    return HFTextEncoder(
        HFTextSpec(
            model=model_dir, device=device, batch_size=sizes.batch_size, token_budget=sizes.token_budget, **options
        )
    )


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
    return {
        "rows": sizes.bare_rows,
        "tokens": sizes.bare_tokens,
        "dtype": str(enc.dtype),
        "sentences_per_s": sizes.bare_rows / seconds,
    }


def bench_encoder(model_dir: str, device: str, texts: list[str], sizes: Sizes) -> dict[str, Any]:
    """Sentences/s of our encoder from pre-tokenized ids and end to end, at several bucket widths.

    ``no_bucket`` (bucket 1) pads each batch to its own longest row: a new shape for nearly every batch.
    """
    out: dict[str, Any] = {}
    for name, bucket in (("bucket32", 32), ("bucket64", 64), ("no_bucket", 1)):
        enc = encoder_for(model_dir, device, sizes, bucket=bucket)
        start = time.perf_counter()
        tokens = enc.tokenize(texts)
        out.setdefault("tokenize_only_per_s", len(texts) / (time.perf_counter() - start))
        seconds = best_seconds(partial(enc.encode_tokens, tokens), device, 1)
        out[f"{name}_pretokenized_per_s"] = len(texts) / seconds
        if bucket != 64:
            out[f"{name}_end_to_end_per_s"] = len(texts) / best_seconds(partial(enc.encode, texts), device, 1)
    slow = encoder_for(model_dir, device, sizes, bucket=32, overlap_tokenization=False)
    out["bucket32_no_overlap_end_to_end_per_s"] = len(texts) / best_seconds(lambda: slow.encode(texts), device, 1)
    out["mean_tokens"] = float(tokens.lengths.mean())
    out["settings"] = {
        "dtype": str(enc.dtype),
        "batch_size": sizes.batch_size,
        "token_budget": sizes.token_budget,
        "max_length": enc.max_length,
        "attn_implementation": enc.attn_implementation,
        "chunk_size": enc._chunk_size,
    }
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
    return {
        "batch_size": sizes.st_batch,
        "dtype": str(next(model.parameters()).dtype),
        "sentences_per_s": len(texts) / seconds,
    }


def bench_translation(device: str, sizes: Sizes) -> dict[str, Any]:
    """Vectors/s of the fused plan (center, normalize, matmul, normalize, scale) in float32 and bfloat16."""
    k, d_in, d_out = sizes.plan_dims
    rng = np.random.default_rng(0)
    source = rng.standard_normal((k, d_in)).astype(np.float32)
    target = source @ rng.standard_normal((d_in, d_out)).astype(np.float32)
    target += 0.1 * rng.standard_normal(target.shape).astype(np.float32)
    # Plain pseudo-inverse IRP (k > d_out + 1): quick to fit, and its plan has both normalizations, the
    # costliest form of the fused step.
    plan = fit_translator(source, target, method="irp", delta=None, subspaces=1).plan
    x = torch.from_numpy(rng.standard_normal((sizes.plan_rows, d_in)).astype(np.float32)).to(device)
    out: dict[str, Any] = {"d_in": d_in, "d_out": d_out, "rows": sizes.plan_rows}
    want = plan.apply(x[:256].cpu().numpy())
    for name, dtype in (("float32", torch.float32), ("bfloat16", torch.bfloat16)):
        fused = plan.to_torch(device, dtype)
        xd = x.to(dtype)
        seconds = best_seconds(partial(fused.apply, xd), device, sizes.repeats)
        out[f"{name}_vectors_per_s"] = sizes.plan_rows / seconds
        got = fused.apply(xd[:256]).float().cpu().numpy()
        out[f"{name}_max_abs_err_vs_numpy"] = float(np.abs(got - want).max())
    return out


def check_parity(model_dir: str, device: str, texts: list[str]) -> dict[str, Any]:
    """Cosine of our vectors in the device's low precision against float32 CPU vectors of the same texts."""
    ref = HFTextEncoder(HFTextSpec(model=model_dir, device="cpu", precision="fp32")).encode(texts)
    low = HFTextEncoder(HFTextSpec(model=model_dir, device=device, precision="bf16")).encode(texts)
    cos = (ref * low).sum(axis=1) / (np.linalg.norm(ref, axis=1) * np.linalg.norm(low, axis=1))
    return {
        "texts": len(texts),
        "dtype": "bfloat16",
        "min_cosine": float(cos.min()),
        "mean_cosine": float(cos.mean()),
        "ok": bool(cos.min() >= PARITY_MIN_COSINE),
    }
