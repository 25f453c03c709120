"""translate_corpus's plan for stored vectors: the `precomputed` encoder, at the one width every target takes."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from pipeline.config import load_config
from pipeline.encoders import EncoderConfig
from pipeline.jobs.translate_corpus import TranslateConfig
from pipeline.jobs.translate_corpus.job import source_encoder


def planned(source_dim: int | None) -> SimpleNamespace:
    translator = None if source_dim is None else SimpleNamespace(source_dim=source_dim)
    return SimpleNamespace(translator=translator)


def test_stored_vectors_go_through_the_precomputed_encoder():
    config = load_config(
        TranslateConfig,
        None,
        ["source.path=c.parquet", "source.vector_column=v", "anchors.target=t.parquet", "output.path=o"],
    )
    assert source_encoder(config, [planned(384), planned(384)]) == EncoderConfig("precomputed", {"dim": 384})
    with pytest.raises(ValueError, match=r"different widths \[384, 768\]"):
        source_encoder(config, [planned(384), planned(768)])


def test_a_raw_corpus_keeps_its_own_encoder():
    config = load_config(
        TranslateConfig,
        None,
        [
            "source.path=c.jsonl",
            "source.format=jsonl",
            "source.text_column=text",
            "encoder.kind=hf_text",
            "encoder.model=m",
            "anchors.target=t.parquet",
            "anchors.source=s.parquet",
            "output.path=o",
        ],
    )
    assert source_encoder(config, [planned(32), planned(None)]) == config.encoder
