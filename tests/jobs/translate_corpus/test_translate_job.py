"""The translate_corpus job on a real local Ray: vector-store exports, raw corpora, fan-out, anchor sets."""

from __future__ import annotations

import json
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.config import ExecutionConfig, load_config
from pipeline.io.tables import embedding_table, read_provenance, vectors_of
from pipeline.jobs.translate_corpus import TranslateConfig, run_translate
from pipeline.translate import fit_translator, load_translator

from tests.conftest import TINY_WORDS as WORDS
from tests.conftest import records_of
from tests.support.readers import assert_every_reader_reads_exactly

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
    pq.write_table(
        pa.concat_tables(
            [
                embedding_table(ids[:25], corpus[:25]),
                embedding_table(ids[25:], corpus[25:]),
            ]
        ),
        tmp_path / "corpus.parquet",
        row_group_size=25,
    )  # two row groups, two shards
    # The config form the README shows, verbatim apart from the paths.
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
    saved = load_translator(records_of(out) / "translator")
    # A job that writes a translated table fits auto for an index unless the config names an objective.
    expected = fit_translator(old[:60], new[:60], "auto", objective="index").transform(np.delete(old[60:], 3, axis=0))
    np.testing.assert_allclose(vectors_of(table.column("embedding")), expected, rtol=1e-5, atol=1e-5)
    assert saved.report["auto"]["cv"]  # the auto choice and its CV scores are kept next to the output
    assert saved.report["auto"]["objective"] == "index"
    provenance = read_provenance(table.schema)
    assert provenance["space"] == "new-model" and provenance["source_space"] == "old-model"
    assert provenance["method"] == saved.method and provenance["dim"] == 24
    assert provenance["anchors_fingerprint"] == saved.anchors_fingerprint
    [rejected] = pq.read_table(records_of(out) / "quarantine" / "part-00000.parquet").to_pylist()
    assert rejected["id"] == "doc3" and "non-finite" in rejected["reason"]
    manifest = json.loads((out / "_manifest.json").read_text())
    assert manifest["totals"] == {"rows_in": 50, "rows_out": 49, "rows_quarantined": 1}
    # The quarantined row, the translator and the scratch of the duplicate-id pass are all outside the table.
    assert_every_reader_reads_exactly(out, [i for i in ids if i != "doc3"])


def test_a_rerun_whose_translator_fits_differently_now_redoes_every_part(local_ray, tmp_path, spaces, monkeypatch):
    import pipeline.jobs.translate_corpus.job as job

    old, new = spaces
    write(tmp_path / "anchors_old.parquet", [f"a{i}" for i in range(60)], old[:60])
    write(tmp_path / "anchors_new.parquet", [f"a{i}" for i in range(60)], new[:60])
    pq.write_table(
        embedding_table([f"doc{i}" for i in range(50)], old[60:]), tmp_path / "corpus.parquet", row_group_size=25
    )
    (tmp_path / "job.yaml").write_text(
        f"source: {{path: {tmp_path}/corpus.parquet, vector_column: embedding}}\n"
        f"anchors: {{source: {tmp_path}/anchors_old.parquet, target: {tmp_path}/anchors_new.parquet}}\n"
        "translator: {method: auto}\n"
    )
    # The same config under a release whose `auto` fitted another map: the job fingerprint cannot tell them apart.
    fit = job.fit_translator
    monkeypatch.setattr(
        job, "fit_translator", lambda source, target, method, **options: fit(source, target, "ridge", alpha=1000.0)
    )
    assert run_translate(config(tmp_path), say=lambda line: None).shards == 2
    monkeypatch.undo()

    rerun = run_translate(config(tmp_path), say=lambda line: None)
    assert (rerun.shards, rerun.shards_skipped, rerun.rows_out) == (2, 0, 50)  # both parts redone
    table = pa.concat_tables(pq.read_table(p) for p in sorted((tmp_path / "out").glob("part-*.parquet")))
    expected = fit_translator(old[:60], new[:60], "auto", objective="index").transform(old[60:])
    np.testing.assert_allclose(vectors_of(table.column("embedding")), expected, rtol=1e-5, atol=1e-5)
    saved = load_translator(records_of(tmp_path / "out") / "translator")
    assert read_provenance(table.schema)["method"] == saved.method
    assert run_translate(config(tmp_path), say=lambda line: None).shards_skipped == 2  # the same map: kept


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

    rng = np.random.default_rng(1)
    texts = [" ".join(rng.choice(WORDS, size=rng.integers(2, 9))) for _ in range(80)]
    encoder = HFTextEncoder(HFTextSpec(model=str(tiny_bert_dir)))
    source_vectors = encoder.encode(texts)
    target_vectors = source_vectors @ rng.normal(size=(32, 20)).astype(np.float32) + 0.5  # another "model"
    write(tmp_path / "anchors_src.parquet", list(range(50)), source_vectors[:50])
    write(tmp_path / "anchors_tgt.parquet", list(range(50)), target_vectors[:50])
    (tmp_path / "corpus.jsonl").write_text(
        "".join(json.dumps({"id": 100 + i, "text": text}) + "\n" for i, text in enumerate([*texts[50:], ""]))
    )
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
        source_vectors[50:]
    )
    np.testing.assert_allclose(vectors_of(table.column("embedding")), expected, rtol=1e-4, atol=1e-4)
    assert read_provenance(table.schema)["source_space"] == f"hf_text/{tiny_bert_dir.name}"


def test_one_encode_pass_fans_out_to_two_targets_and_the_source_table(local_ray, tmp_path, tiny_bert_dir):
    """Target "tables" pairs anchor tables; target "embedded" has the job embed an anchor set with a second model."""
    from pipeline.encoders.hf_text import HFTextEncoder, HFTextSpec

    from tests.conftest import build_tiny_bert

    other_dir = build_tiny_bert(tmp_path / "other-bert", seed=7)  # a different "target model"
    rng = np.random.default_rng(2)
    texts = [" ".join(rng.choice(WORDS, size=rng.integers(2, 9))) for _ in range(90)]
    source_model, other_model = (HFTextEncoder(HFTextSpec(model=str(path))) for path in (tiny_bert_dir, other_dir))
    source_vectors = source_model.encode(texts)
    table_target = source_vectors @ rng.normal(size=(32, 12)).astype(np.float32)
    write(tmp_path / "anchors_src.parquet", list(range(40)), source_vectors[:40])
    write(tmp_path / "anchors_tgt.parquet", list(range(40)), table_target[:40])
    pq.write_table(pa.table({"id": list(range(40)), "text": texts[:40]}), tmp_path / "anchor_set.parquet")
    pq.write_table(pa.table({"id": list(range(40, 90)), "text": texts[40:]}), tmp_path / "corpus.parquet")
    (tmp_path / "job.yaml").write_text(
        f"source: {{path: {tmp_path}/corpus.parquet, text_column: text}}\n"
        f"encoder: {{kind: hf_text, model: {tiny_bert_dir}}}\n"
        "translator: {method: ridge, alpha: 0.001}\n"
        "targets:\n"
        f"  tables:   {{anchors: {{source: {tmp_path}/anchors_src.parquet, target: {tmp_path}/anchors_tgt.parquet}},"
        f" output: {{path: {tmp_path}/out_tables}}}}\n"
        f"  embedded: {{anchors: {{set: {{path: {tmp_path}/anchor_set.parquet, text_column: text}},"
        f" target_encoder: {{kind: hf_text, model: {other_dir}}}}},"
        f" output: {{path: {tmp_path}/out_embedded}}, translator: {{method: procrustes}}}}\n"
        f"  again: {{anchors: {{set: {{path: {tmp_path}/anchor_set.parquet, text_column: text}},"
        f" target_encoder: {{kind: hf_text, model: {other_dir}}}}}, output: {{path: {tmp_path}/out_again}}}}\n"
        f"source_output: {{path: {tmp_path}/out_source}}\n"
    )
    summary = run_translate(load_config(TranslateConfig, tmp_path / "job.yaml"), say=lambda line: None)
    assert len(summary.outputs) == 4 and (summary.rows_in, summary.rows_out) == (50, 50)
    assert not (records_of(tmp_path / "out_again") / "anchors").exists()  # the same set and models: embedded once

    def vectors(name):
        table = pq.read_table(tmp_path / name / "part-00000.parquet")
        assert table.column("id").to_pylist() == list(range(40, 90))
        return vectors_of(table.column("embedding")), read_provenance(table.schema)

    got, _ = vectors("out_tables")
    expected = fit_translator(source_vectors[:40], table_target[:40], "ridge", alpha=0.001).transform(
        source_vectors[40:]
    )
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    got, provenance = vectors("out_embedded")
    expected = fit_translator(source_vectors[:40], other_model.encode(texts[:40]), "procrustes").transform(
        source_vectors[40:]
    )
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    assert provenance["method"] == "procrustes" and provenance["space"] == f"hf_text/{other_dir.name}"
    assert (records_of(tmp_path / "out_embedded") / "anchors" / "target" / "_SUCCESS").exists()
    got, provenance = vectors("out_source")
    np.testing.assert_allclose(got, source_vectors[40:], rtol=1e-5, atol=1e-5)
    assert "method" not in provenance
    np.testing.assert_allclose(
        vectors("out_again")[0],
        fit_translator(source_vectors[:40], other_model.encode(texts[:40]), "ridge", alpha=0.001).transform(
            source_vectors[40:]
        ),
        rtol=1e-4,
        atol=1e-4,
    )
    for name in ("out_tables", "out_embedded", "out_again", "out_source"):
        manifest = json.loads((tmp_path / name / "_manifest.json").read_text())
        assert manifest["totals"] == {"rows_in": 50, "rows_out": 50, "rows_quarantined": 0}
        assert_every_reader_reads_exactly(tmp_path / name, list(range(40, 90)))


def test_vector_store_migration_embeds_only_the_new_side_of_an_anchor_set(local_ray, tmp_path, tiny_bert_dir):
    from pipeline.encoders.hf_text import HFTextEncoder, HFTextSpec

    rng = np.random.default_rng(3)
    texts = [" ".join(rng.choice(WORDS, size=rng.integers(2, 9))) for _ in range(70)]
    old_store = rng.normal(size=(70, 10)).astype(np.float32)  # the old model is gone; its vectors remain
    write(tmp_path / "store.parquet", [f"d{i}" for i in range(70)], old_store, space="old-model")
    pq.write_table(pa.table({"id": [f"d{i}" for i in range(0, 70, 2)], "text": texts[::2]}), tmp_path / "set.parquet")
    (tmp_path / "job.yaml").write_text(
        f"source: {{path: {tmp_path}/store.parquet, vector_column: embedding}}\n"
        f"anchors: {{set: {{path: {tmp_path}/set.parquet, text_column: text}},"
        f" target_encoder: {{kind: hf_text, model: {tiny_bert_dir}}}}}\n"
        "translator: {method: ridge, alpha: 0.01}\n"
    )
    summary = run_translate(config(tmp_path), say=lambda line: None)
    assert summary.rows_out == 70
    table = pq.read_table(tmp_path / "out" / "part-00000.parquet")
    new_anchors = HFTextEncoder(HFTextSpec(model=str(tiny_bert_dir))).encode(texts[::2])
    expected = fit_translator(old_store[::2], new_anchors, "ridge", alpha=0.01).transform(old_store)
    np.testing.assert_allclose(vectors_of(table.column("embedding")), expected, rtol=1e-4, atol=1e-4)
    assert read_provenance(table.schema)["source_space"] == "old-model"


def test_stored_vectors_run_one_task_per_core_on_a_private_ray(local_ray) -> None:
    from pipeline.engine.ray_pool import whole_chunk_tasks

    # The local Ray declares 4 CPUs whatever the cores; a computing task per logical CPU would oversubscribe.
    assert whole_chunk_tasks(ExecutionConfig()) == min(4, os.cpu_count() or 1)
    # On a cluster, or where the user set num_cpus, the declared CPUs are the cores.
    assert whole_chunk_tasks(ExecutionConfig(address="auto")) == 4
    assert whole_chunk_tasks(ExecutionConfig(num_cpus=4)) == 4


def test_anchor_paragraphs_are_embedded_by_both_models_and_fitted_beside_the_set(local_ray, tmp_path, tiny_bert_dir):
    """`anchors.passages`: each anchor text's paragraphs become pairs of their own, after the whole texts."""
    from pipeline.encoders.hf_text import HFTextEncoder, HFTextSpec
    from pipeline.io.passages import passage_rows

    from tests.conftest import build_tiny_bert

    other_dir = build_tiny_bert(tmp_path / "other-bert", seed=7)
    rng = np.random.default_rng(4)

    def paragraph():
        return " ".join(rng.choice(WORDS, size=12))  # 12 words: over the 40 characters a paragraph needs

    texts = ["\n\n".join(paragraph() for _ in range(3)) for _ in range(20)]
    corpus = [paragraph() for _ in range(30)]
    pq.write_table(pa.table({"id": [f"a{i}" for i in range(20)], "text": texts}), tmp_path / "set.parquet")
    pq.write_table(pa.table({"id": list(range(30)), "text": corpus}), tmp_path / "corpus.parquet")
    (tmp_path / "job.yaml").write_text(
        f"source: {{path: {tmp_path}/corpus.parquet, text_column: text}}\n"
        f"encoder: {{kind: hf_text, model: {tiny_bert_dir}}}\n"
        f"anchors: {{set: {{path: {tmp_path}/set.parquet, text_column: text}}, passages: true,"
        f" target_encoder: {{kind: hf_text, model: {other_dir}}}}}\n"
        "translator: {method: procrustes}\n"
    )
    said = []
    summary = run_translate(config(tmp_path), say=said.append)
    assert summary.rows_out == 30
    assert any(line.startswith("anchor paragraphs embedded in the source space: 60 rows") for line in said)
    assert "target: 80 anchors paired on id (0 ids in only one table)" in said
    passage_ids, passages = passage_rows([f"a{i}" for i in range(20)], texts)
    assert passage_ids[:4] == ["a0#p0", "a0#p1", "a0#p2", "a1#p0"] and len(passages) == 60
    old, new = (HFTextEncoder(HFTextSpec(model=str(path))) for path in (tiny_bert_dir, other_dir))
    # Both sides come sorted by id, the set's rows first: a0..a9, a10.. sort as text, as the job pairs them.
    order, passage_order = np.argsort([f"a{i}" for i in range(20)]), np.argsort(passage_ids)
    anchors_old = np.concatenate([old.encode(texts)[order], old.encode(passages)[passage_order]])
    anchors_new = np.concatenate([new.encode(texts)[order], new.encode(passages)[passage_order]])
    expected = fit_translator(anchors_old, anchors_new, "procrustes").transform(old.encode(corpus))
    got = vectors_of(pq.read_table(tmp_path / "out" / "part-00000.parquet").column("embedding"))
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    for side in ("target", "source"):
        assert (records_of(tmp_path / "out") / "anchors" / "passages" / side / "_SUCCESS").exists()
