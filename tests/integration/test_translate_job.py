"""The translate_corpus job on a real local Ray, for a vector-store export that already holds vectors."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.config import TranslateConfig, load_config
from pipeline.io.tables import embedding_table, read_provenance, vectors_of
from pipeline.runner import run_translate
from pipeline.translate import fit_translator, load_translator

pytestmark = [pytest.mark.timeout(300)]


@pytest.fixture
def spaces():
    """A source space and a target space related by a noisy linear map; 60 anchors, 50 corpus rows."""
    rng = np.random.default_rng(0)
    latent = rng.normal(size=(110, 12))
    old = latent @ rng.normal(size=(12, 16)) + 0.05 * rng.normal(size=(110, 16)) + 1.0
    new = latent @ rng.normal(size=(12, 24)) + 0.05 * rng.normal(size=(110, 24)) - 1.0
    return old.astype(np.float32), new.astype(np.float32)


def write(path, ids, vectors, **meta):
    pq.write_table(embedding_table(ids, vectors, meta or None), path)


def config(tmp_path, *overrides) -> TranslateConfig:
    return load_config(TranslateConfig, tmp_path / "job.yaml", [f"output.path={tmp_path / 'out'}", *overrides])


def test_vector_store_corpus_is_translated_with_the_design_config_form(local_ray, tmp_path, spaces):
    old, new = spaces
    anchor_ids = [f"a{i}" for i in range(60)]
    write(tmp_path / "anchors_old.parquet", anchor_ids, old[:60], space="old-model")
    write(tmp_path / "anchors_new.parquet", anchor_ids[::-1], new[:60][::-1], space="new-model")  # order differs
    corpus = old[60:].copy()
    corpus[3] = np.nan  # a broken vector from the old store
    ids = [f"doc{i}" for i in range(50)]
    pq.write_table(pa.concat_tables([
        embedding_table(ids[:25], corpus[:25]), embedding_table(ids[25:], corpus[25:]),
    ]), tmp_path / "corpus.parquet", row_group_size=25)  # two row groups, two shards
    # The config form of DESIGN.md §4, verbatim apart from the paths.
    (tmp_path / "job.yaml").write_text(
        f"source:      {{path: {tmp_path}/corpus.parquet, format: parquet, id_column: id, vector_column: embedding}}\n"
        f"anchors:     {{source: {tmp_path}/anchors_old.parquet, target: {tmp_path}/anchors_new.parquet}}\n"
        "translator:  {method: auto}\n"
        "output:      {path: out/corpus_new}\n"
    )
    summary = run_translate(config(tmp_path), say=lambda line: None)
    assert (summary.shards, summary.rows_in, summary.rows_out, summary.rows_quarantined) == (2, 50, 49, 1)

    out = tmp_path / "out"
    table = pa.concat_tables(pq.read_table(p) for p in sorted(out.glob("part-*.parquet")))
    assert table.column("id").to_pylist() == [i for i in ids if i != "doc3"]
    saved = load_translator(out / "_translator")
    expected = fit_translator(old[:60], new[:60], "auto").transform(np.delete(old[60:], 3, axis=0))
    np.testing.assert_allclose(vectors_of(table.column("embedding")), expected, rtol=1e-5, atol=1e-5)
    assert saved.report["auto"]["cv"]  # the auto choice and its CV scores are kept next to the output
    provenance = read_provenance(table.schema)
    assert provenance["space"] == "new-model" and provenance["source_space"] == "old-model"
    assert provenance["method"] == saved.method and provenance["dim"] == 24
    assert provenance["anchors_fingerprint"] == saved.anchors_fingerprint
    [rejected] = pq.read_table(out / "_quarantine" / "part-00000.parquet").to_pylist()
    assert rejected["id"] == "doc3" and "non-finite" in rejected["reason"]
    manifest = json.loads((out / "_manifest.json").read_text())
    assert manifest["totals"] == {"rows_in": 50, "rows_out": 49, "rows_quarantined": 1}


def test_source_anchors_can_come_from_the_corpus_itself(local_ray, tmp_path, spaces):
    old, new = spaces
    ids = [f"doc{i}" for i in range(110)]
    write(tmp_path / "corpus.parquet", ids, old)
    write(tmp_path / "anchors_new.parquet", ids[:60], new[:60])  # only the new model embedded the anchors
    (tmp_path / "job.yaml").write_text(
        f"source: {{path: {tmp_path}/corpus.parquet, vector_column: embedding}}\n"
        f"anchors: {{target: {tmp_path}/anchors_new.parquet}}\n"
        "translator: {method: ridge, alpha: 0.01}\n"
    )
    summary = run_translate(config(tmp_path), say=lambda line: None)
    assert summary.rows_out == 110
    table = pq.read_table(tmp_path / "out" / "part-00000.parquet")
    expected = fit_translator(old[:60], new[:60], "ridge", alpha=0.01).transform(old)
    np.testing.assert_allclose(vectors_of(table.column("embedding")), expected, rtol=1e-5, atol=1e-5)


def test_raw_texts_are_encoded_and_translated_in_the_same_actor(local_ray, tmp_path, tiny_bert_dir):
    from pipeline.encoders.hf_text import HFTextEncoder, HFTextSpec

    words = "the a cat dog sat on mat and ran far away quick brown fox jumps over lazy river stone".split()
    rng = np.random.default_rng(1)
    texts = [" ".join(rng.choice(words, size=rng.integers(2, 9))) for _ in range(80)]
    encoder = HFTextEncoder(HFTextSpec(model=str(tiny_bert_dir)))
    source_vectors = encoder.encode(texts)
    target_vectors = source_vectors @ rng.normal(size=(32, 20)).astype(np.float32) + 0.5  # another "model"
    write(tmp_path / "anchors_src.parquet", list(range(50)), source_vectors[:50])
    write(tmp_path / "anchors_tgt.parquet", list(range(50)), target_vectors[:50])
    (tmp_path / "corpus.jsonl").write_text("".join(
        json.dumps({"id": 100 + i, "text": text}) + "\n" for i, text in enumerate(texts[50:] + [""])))
    (tmp_path / "job.yaml").write_text(
        f"source: {{path: {tmp_path}/corpus.jsonl, format: jsonl, text_column: text}}\n"
        f"encoder: {{kind: hf_text, model: {tiny_bert_dir}}}\n"
        f"anchors: {{source: {tmp_path}/anchors_src.parquet, target: {tmp_path}/anchors_tgt.parquet}}\n"
        "translator: {method: ridge, alpha: 0.001}\n"
    )
    summary = run_translate(config(tmp_path), say=lambda line: None)
    assert (summary.rows_in, summary.rows_out, summary.rows_quarantined) == (31, 30, 1)  # the empty text
    table = pq.read_table(tmp_path / "out" / "part-00000.parquet")
    expected = fit_translator(source_vectors[:50], target_vectors[:50], "ridge", alpha=0.001).transform(
        source_vectors[50:])
    np.testing.assert_allclose(vectors_of(table.column("embedding")), expected, rtol=1e-4, atol=1e-4)
    assert read_provenance(table.schema)["source_space"] == f"hf_text/{tiny_bert_dir.name}"
