"""Our encoder reproduces sentence-transformers' vectors for both packaged models, and the mpnet cache is reused."""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pipeline import packaged
from pipeline.encoders.hf_text import HFTextEncoder, HFTextSpec
from pipeline.packaged import list_packaged_models, load_bbc_news, packaged_model_dir

pytestmark = pytest.mark.real


@pytest.mark.parametrize("name", list_packaged_models())
def test_encoder_matches_sentence_transformers(name: str) -> None:
    from sentence_transformers import SentenceTransformer

    # Every 70th article spans all five classes and a wide range of lengths, so the batches carry padding.
    texts = load_bbc_news(max_chars=512).texts[::70][:32]
    model_dir = str(packaged_model_dir(name))
    ours = HFTextEncoder(HFTextSpec(model=model_dir, pooling="mean", normalize=True, batch_size=8)).encode(texts)
    ref = SentenceTransformer(model_dir, device="cpu").encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    assert ours.shape == ref.shape and ours.dtype == np.float32
    cos = (ours * ref).sum(axis=1) / np.linalg.norm(ref, axis=1)
    assert cos.min() >= 0.999, f"{name}: worst row cosine {cos.min():.6f} at row {int(cos.argmin())}"


@pytest.mark.parametrize("name", list_packaged_models())
def test_tokenizer_json_backend_gives_transformers_ids_on_the_whole_corpus(name: str) -> None:
    from transformers import AutoTokenizer

    from pipeline.encoders.hf_tokenizer import HFTokenizer

    from tests.encoders.test_hf_tokenizer import TEXTS, assert_same_ids

    # Every BBC article, uncut, so that most are truncated at the limit, plus the hostile strings of the unit test.
    texts = (
        list(load_bbc_news().texts)
        + TEXTS
        + [
            "<mask> <s> </s> <pad>",
            "emoji \U0001f600\U0001f680",
            "\uff26\uff35\uff2c\uff2c \ufb01 \u01c5",
            "\u0639\u0631\u0628\u0649 \u0939\u093f\u0928\u094d\u0926\u0940",
        ]
    )
    model_dir = packaged_model_dir(name)
    reference = AutoTokenizer.from_pretrained(str(model_dir))
    for max_length in (None, 16):
        tokenizer = HFTokenizer(HFTextSpec(model=str(model_dir), max_length=max_length))
        assert tokenizer.backend == "tokenizers"
        # mpnet numbers positions by counting non-pad ids, so its pad id (1) must be the model's own.
        assert tokenizer.pad_values["input_ids"] == reference.pad_token_id
        assert_same_ids(tokenizer, model_dir, texts)


def test_mpnet_cache_is_reused() -> None:
    first = packaged_model_dir("all-mpnet-base-v2")
    marker = first / packaged._MARKER
    stamp = marker.stat().st_mtime_ns
    second = packaged_model_dir("all-mpnet-base-v2")
    assert second == first and marker.stat().st_mtime_ns == stamp
    assert (second / "model.safetensors").stat().st_size > 400_000_000


@pytest.mark.slow
def test_mpnet_extraction_survives_a_race(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Two extractions into an empty cache at once: both must return the same complete directory, one wins the
    # rename, and no temp directory is left behind.
    monkeypatch.setenv("IRP_CACHE_DIR", str(tmp_path))
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            dirs = list(pool.map(lambda _: packaged_model_dir("all-mpnet-base-v2"), range(2)))
        assert dirs[0] == dirs[1] == tmp_path / "models" / "all-mpnet-base-v2"
        assert (dirs[0] / packaged._MARKER).is_file() and (dirs[0] / "config.json").is_file()
        assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["all-mpnet-base-v2"]
    finally:
        shutil.rmtree(tmp_path / "models", ignore_errors=True)  # pytest keeps old tmp dirs; this one is 440 MB


def test_bbc_embeddings_fixture(bbc_embeddings: dict[str, Any]) -> None:
    labels = bbc_embeddings["labels"]
    assert len(bbc_embeddings["ids"]) == labels.shape[0] == 2225
    assert bbc_embeddings["label_names"] == ("business", "entertainment", "politics", "sport", "tech")
    for key, dim in (("minilm", 384), ("mpnet", 768)):
        emb = bbc_embeddings[key]
        assert emb.shape == (2225, dim) and emb.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
        # Leave-one-out 1-NN accuracy: real sentence embeddings separate BBC's topics well (random ones: ~0.2).
        sims = emb @ emb.T
        np.fill_diagonal(sims, -np.inf)
        accuracy = float((labels[sims.argmax(axis=1)] == labels).mean())
        assert accuracy > 0.85, f"{key}: 1-NN accuracy {accuracy:.3f}"
