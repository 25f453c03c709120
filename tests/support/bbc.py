"""Session fixtures for the `real` tests: the BBC News corpus embedded by both packaged models, cached on disk.

Encoding 2,225 articles with mpnet takes minutes on two CPU cores, so the vectors are written once under
``<repo>/.cache/irp-tests/`` as safetensors (never pickle) and reused by later sessions. The file name carries a
hash of everything that determines the vectors, so a change to the corpus, truncation or recipe re-encodes.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from pipeline.encoders.hf_text import HFTextEncoder, HFTextSpec
from pipeline.packaged import LabeledTexts, load_bbc_news, packaged_model_dir

CACHE_DIR = Path(__file__).resolve().parents[2] / ".cache" / "irp-tests"
MAX_CHARS = 512
# Short key in the fixture's dict -> packaged model name.
MODELS = {"minilm": "all-MiniLM-L6-v2", "mpnet": "all-mpnet-base-v2"}
# Bump when the encoding recipe changes in a way the hash cannot see (pooling, normalization, batching code).
RECIPE = "hf_text pooling=mean normalize=True v1"


def _cache_key(model_name: str, max_chars: int, texts: list[str]) -> str:
    h = hashlib.sha256(f"{RECIPE}\0{model_name}\0{max_chars}\0{len(texts)}\0".encode())
    for text in texts:
        h.update(text.encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()[:16]


def _load_cached(path: Path, corpus: LabeledTexts) -> np.ndarray | None:
    """``(n, d)`` float32 from ``path``, or None if absent or written for other rows."""
    if not path.is_file():
        return None
    with safe_open(str(path), framework="pt") as f:
        if json.loads((f.metadata() or {}).get("ids", "null")) != corpus.ids:
            return None
        return f.get_tensor("embeddings").numpy()


def _save(path: Path, emb: np.ndarray, corpus: LabeledTexts, model_name: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {"embeddings": torch.from_numpy(emb), "labels": torch.from_numpy(corpus.labels)}
    meta = {
        "ids": json.dumps(corpus.ids),
        "label_names": json.dumps(list(corpus.label_names)),
        "model": model_name,
        "max_chars": str(MAX_CHARS),
        "recipe": RECIPE,
    }
    # Write then rename, so that an interrupted session or a parallel one never leaves a truncated file behind.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    save_file(tensors, str(tmp), metadata=meta)
    os.replace(tmp, path)


def _embed(model_name: str, corpus: LabeledTexts, say: Callable[[str], None]) -> np.ndarray:
    path = CACHE_DIR / f"bbc-{model_name}-{_cache_key(model_name, MAX_CHARS, corpus.texts)}.safetensors"
    cached = _load_cached(path, corpus)
    if cached is not None:
        say(f"bbc_embeddings: {model_name} loaded from {path.name}")
        return cached
    say(f"bbc_embeddings: encoding {len(corpus.texts)} BBC docs with {model_name} (cached afterwards) ...")
    start = time.perf_counter()
    encoder = HFTextEncoder(HFTextSpec(model=str(packaged_model_dir(model_name)), pooling="mean", normalize=True))
    emb = encoder.encode(corpus.texts)
    took = time.perf_counter() - start
    say(f"bbc_embeddings: {model_name} took {took:.1f} s ({len(corpus.texts) / took:.1f} docs/s), saved to {path}")
    _save(path, emb, corpus, model_name)
    return emb


# On a fresh clone the first test that needs the embeddings pays for encoding the corpus (about 6 minutes on
# an idle 2-core machine, twice that when it is shared), inside that test's time limit.
ENCODING_TIMEOUT_S = 2400


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "bbc_embeddings" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.timeout(ENCODING_TIMEOUT_S))
            # Under pytest-xdist (``--dist loadgroup``) every test of the embeddings runs on the same worker, so
            # a fresh clone encodes the corpus once, not once per worker.
            item.add_marker(pytest.mark.xdist_group("bbc_embeddings"))


@pytest.fixture(scope="session")
def bbc_embeddings(request: pytest.FixtureRequest) -> dict[str, Any]:
    """BBC News (first 512 characters of each article) embedded by both packaged models with our encoder.

    Returns:
        ``{"ids": list[str] (n,), "labels": (n,) int64, "label_names": tuple[str, ...],
        "minilm": (n, 384) float32, "mpnet": (n, 768) float32}`` with ``n = 2225``, rows unit-normalized.
    """
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capman = request.config.pluginmanager.get_plugin("capturemanager")

    def say(msg: str) -> None:
        # Minutes of silence look like a hang, so progress bypasses pytest's capture (which also swallows the
        # terminal reporter's own writes while a fixture runs).
        if reporter is None or capman is None:
            print(msg, flush=True)
            return
        with capman.global_and_fixture_disabled():
            reporter.write_line(msg)

    corpus = load_bbc_news(max_chars=MAX_CHARS)
    out: dict[str, Any] = {"ids": corpus.ids, "labels": corpus.labels, "label_names": corpus.label_names}
    for key, model_name in MODELS.items():
        out[key] = _embed(model_name, corpus, say)
    return out
