"""translate_corpus between stores on a real local Ray: a LanceDB corpus in, LanceDB and Delta tables out."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.config import TranslateConfig, load_config
from pipeline.io.stores import StoreRef, content_hashes, open_store
from pipeline.io.tables import embedding_array, embedding_table, vectors_of
from pipeline.jobs.translate_corpus import run_translate
from pipeline.translate import fit_translator

pytest.importorskip("lance")
pytest.importorskip("deltalake")
pytestmark = [pytest.mark.timeout(300)]


def old_store(tmp_path, vectors: np.ndarray, fragments: int) -> list[str]:
    """A LanceDB table ``docs`` of the old model's vectors, in several fragments (several shards)."""
    import lance

    ids = [f"doc{i:04d}" for i in range(len(vectors))]
    table = pa.table({"id": ids, "vector": embedding_array(vectors)})
    step = -(-len(ids) // fragments)
    for start in range(0, len(ids), step):
        lance.write_dataset(table.slice(start, step), str(tmp_path / "db" / "docs.lance"),
                            mode="append" if start else "create")
    return ids


def test_a_lancedb_corpus_is_published_to_lancedb_and_delta_with_provenance(local_ray, tmp_path):
    rng = np.random.default_rng(0)
    latent = rng.normal(size=(700, 12))
    old = (latent @ rng.normal(size=(12, 16))).astype(np.float32)
    new = (latent @ rng.normal(size=(12, 24))).astype(np.float32)
    ids = old_store(tmp_path, old, fragments=3)
    pq.write_table(embedding_table(ids[:100], new[:100], {"space": "new-model"}), tmp_path / "anchors_new.parquet")
    (tmp_path / "job.yaml").write_text(
        f"source: {{format: lancedb, path: {tmp_path}/db, table: docs, vector_column: vector}}\n"
        "translator: {method: procrustes}\n"
        "targets:\n"
        f"  lance: {{anchors: {{target: {tmp_path}/anchors_new.parquet}},\n"
        f"          output: {{format: lancedb, path: {tmp_path}/db, table: docs_new, index: {{kind: ivf_pq}}}}}}\n"
        f"  delta: {{anchors: {{target: {tmp_path}/anchors_new.parquet}},\n"
        f"          output: {{format: delta, path: {tmp_path}/docs_new_delta}}}}\n"
    )
    lines: list[str] = []
    summary = run_translate(load_config(TranslateConfig, tmp_path / "job.yaml"), say=lines.append)
    assert (summary.shards, summary.rows_in, summary.rows_out) == (3, 700, 700)
    assert summary.outputs == (f"lancedb:{tmp_path}/db#docs_new", f"delta:{tmp_path}/docs_new_delta")

    expected = fit_translator(old[:100], new[:100], "procrustes").transform(old)
    for ref in (StoreRef("lancedb", str(tmp_path / "db"), "docs_new"), StoreRef("delta", str(tmp_path / "docs_new_delta"))):
        store = open_store(ref)
        table = store.read().sort_by("id")
        assert table.column("id").to_pylist() == ids
        np.testing.assert_allclose(vectors_of(table.column("embedding")), expected, rtol=1e-4, atol=1e-4)
        # The hash of each row's source vector: a later sync re-translates only rows whose source changed.
        assert table.column("content_hash").to_pylist() == content_hashes(embedding_array(old)).to_pylist()
        provenance = store.provenance()
        assert provenance["space"] == "new-model" and provenance["method"] == "procrustes"
        assert provenance["job_fingerprint"] and provenance["publish_id"]
    [index] = open_store(StoreRef("lancedb", str(tmp_path / "db"), "docs_new")).dataset().describe_indices()
    assert index.num_rows_indexed == 700
    manifest = json.loads((tmp_path / "db" / "_irp" / "docs_new" / "_manifest.json").read_text())
    assert manifest["published"]["published"] and manifest["published"]["rows"] == 700

    again = run_translate(load_config(TranslateConfig, tmp_path / "job.yaml"), say=lines.append)  # nothing to do
    assert again.shards_skipped == 3
    versions = open_store(StoreRef("lancedb", str(tmp_path / "db"), "docs_new")).dataset().versions()
    assert len(versions) == 2  # created empty, then published once: the rerun did not publish again
