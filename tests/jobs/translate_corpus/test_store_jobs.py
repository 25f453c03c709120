"""translate_corpus between stores on a real local Ray: a LanceDB corpus in, LanceDB and Delta tables out."""

from __future__ import annotations

import json
import uuid

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.config import load_config
from pipeline.io.stores import StoreRef, content_hashes, open_store
from pipeline.io.tables import embedding_array, embedding_table, vectors_of
from pipeline.jobs.translate_corpus import TranslateConfig, run_translate
from pipeline.translate import fit_translator

pytest.importorskip("lance")
pytest.importorskip("deltalake")
pytestmark = [pytest.mark.timeout(300)]


STORES = ("lancedb", "delta", "pgvector")
INDEX = {"lancedb": "{kind: ivf_pq}", "pgvector": "{kind: hnsw, m: 16, ef_construction: 64}", "delta": "null"}


def store_block(fmt: str, tmp_path, table: str, dsn: str | None) -> str:
    """A source or output block's location keys for ``fmt``, as YAML flow-mapping entries."""
    return {
        "lancedb": f"format: lancedb, path: {tmp_path}/db, table: {table}",
        "delta": f"format: delta, path: {tmp_path}/{table}",
        "pgvector": f"format: pgvector, dsn: '{dsn}', table: {table}, path: {tmp_path}/records",
    }[fmt]


def ref_of(fmt: str, tmp_path, table: str, dsn: str | None) -> StoreRef:
    return {
        "lancedb": StoreRef("lancedb", str(tmp_path / "db"), table),
        "delta": StoreRef("delta", str(tmp_path / table)),
        "pgvector": StoreRef("pgvector", table=table, dsn=dsn or ""),
    }[fmt]


@pytest.fixture(params=STORES)
def store_format(request):
    """Each store; pgvector with the session's private PostgreSQL."""
    dsn = request.getfixturevalue("pg_dsn") if request.param == "pgvector" else None
    return request.param, dsn


def test_each_store_round_trips_10000_rows_through_a_translate_job(local_ray, tmp_path, store_format):
    fmt, dsn = store_format
    rng = np.random.default_rng(0)
    latent = rng.normal(size=(10_000, 32))
    old = (latent @ rng.normal(size=(32, 384))).astype(np.float32)
    new = (latent @ rng.normal(size=(32, 768))).astype(np.float32)
    ids = [f"doc{i:05d}" for i in range(10_000)]
    suffix = uuid.uuid4().hex[:8]
    source, target = f"old_{suffix}", f"new_{suffix}"
    column = embedding_array(old)
    open_store(ref_of(fmt, tmp_path, source, dsn)).upsert(
        pa.table({"id": ids, "embedding": column, "content_hash": content_hashes(column)})
    )
    pq.write_table(embedding_table(ids[:800], new[:800], {"space": "new-model"}), tmp_path / "anchors_new.parquet")
    (tmp_path / "job.yaml").write_text(
        f"source: {{{store_block(fmt, tmp_path, source, dsn)}, vector_column: embedding,"
        " content_hash_column: content_hash}\n"
        f"anchors: {{target: {tmp_path}/anchors_new.parquet}}\n"
        "translator: {method: procrustes}\n"
        f"output: {{{store_block(fmt, tmp_path, target, dsn)}, index: {INDEX[fmt]}}}\n"
        "execution: {chunk_rows: 2500}\n"
    )
    lines: list[str] = []
    summary = run_translate(load_config(TranslateConfig, tmp_path / "job.yaml"), say=lines.append)
    assert (summary.shards, summary.rows_in, summary.rows_out) == (4, 10_000, 10_000)  # read in shards
    assert summary.outputs == (ref_of(fmt, tmp_path, target, dsn).describe(),)
    assert not dsn or all(dsn not in line for line in [*lines, *summary.lines()])

    store = open_store(ref_of(fmt, tmp_path, target, dsn))
    table = store.read().sort_by("id")
    assert table.column("id").to_pylist() == ids
    expected = fit_translator(old[:800], new[:800], "procrustes").transform(old)
    np.testing.assert_allclose(vectors_of(table.column("embedding")), expected, rtol=1e-5, atol=1e-5)
    # The source's own content hashes travel with the rows: a later sync compares against them.
    assert table.column("content_hash").to_pylist() == content_hashes(column).to_pylist()
    provenance = store.provenance()
    assert provenance["space"] == "new-model" and provenance["method"] == "procrustes"
    assert provenance["job_fingerprint"] and provenance["publish_id"]
    if fmt == "lancedb":
        [index] = store.dataset().describe_indices()
        assert index.num_rows_indexed == 10_000  # published with its index, over every row

    again = run_translate(load_config(TranslateConfig, tmp_path / "job.yaml"), say=lines.append)
    assert again.shards_skipped == 4  # nothing to redo, and the table carries this publish: nothing republished
    assert store.provenance()["publish_id"] == provenance["publish_id"]
    assert store.read().sort_by("id").equals(table)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_job_killed_mid_write_leaves_the_old_tables_and_its_rerun_publishes_once(tmp_path, tiny_bert_dir, pg_dsn):
    import subprocess
    import sys

    import lance
    import psycopg
    from deltalake import DeltaTable, write_deltalake

    from pipeline.encoders.hf_text import HFTextEncoder, HFTextSpec
    from pipeline.translate import load_translator

    from tests.conftest import TINY_WORDS
    from tests.support.killing import kill_after_shards

    rng = np.random.default_rng(0)
    texts = {shard * 100 + i: " ".join(rng.choice(TINY_WORDS, size=6)) for shard in range(30) for i in range(20)}
    corpus = tmp_path / "corpus"  # the output must not sit inside its source
    corpus.mkdir()
    for shard in range(30):
        (corpus / f"corpus-{shard:02d}.jsonl").write_text(
            "".join(json.dumps({"id": key, "text": texts[key]}) + "\n" for key in range(shard * 100, shard * 100 + 20))
        )
    anchors = rng.normal(size=(40, 32)).astype(np.float32)
    pq.write_table(embedding_table(list(range(40)), anchors), tmp_path / "a_src.parquet")
    pq.write_table(
        embedding_table(list(range(40)), anchors @ rng.normal(size=(32, 8)).astype(np.float32)),
        tmp_path / "a_tgt.parquet",
    )
    # Yesterday's tables, which readers use while the job runs.
    old = pa.table(
        {"id": [-1, -2], "embedding": embedding_array(np.ones((2, 8), np.float32)), "content_hash": ["x", "y"]}
    )
    lance.write_dataset(old, str(tmp_path / "db" / "docs.lance"))
    write_deltalake(
        str(tmp_path / "docs_delta"), old.set_column(1, "embedding", old.column(1).cast(pa.list_(pa.float32())))
    )
    pg = StoreRef("pgvector", table="docs", dsn=pg_dsn)
    open_store(pg).upsert(old)
    pg_before = open_store(pg).read()
    versions = lance.dataset(str(tmp_path / "db" / "docs.lance")).version, DeltaTable(tmp_path / "docs_delta").version()
    (tmp_path / "job.yaml").write_text(
        f"source: {{path: {corpus}, format: jsonl, text_column: text}}\n"
        f"encoder: {{kind: hf_text, model: {tiny_bert_dir}}}\n"
        "translator: {method: ridge}\n"
        "execution: {actors: 1}\n"
        "targets:\n"
        f"  lance: {{anchors: {{source: {tmp_path}/a_src.parquet, target: {tmp_path}/a_tgt.parquet}},\n"
        f"          output: {{format: lancedb, path: {tmp_path}/db, table: docs, index: {{kind: ivf_pq}}}}}}\n"
        f"  delta: {{anchors: {{source: {tmp_path}/a_src.parquet, target: {tmp_path}/a_tgt.parquet}},\n"
        f"          output: {{format: delta, path: {tmp_path}/docs_delta}}}}\n"
        f"  pg:    {{anchors: {{source: {tmp_path}/a_src.parquet, target: {tmp_path}/a_tgt.parquet}},\n"
        f"          output: {{format: pgvector, dsn: '{pg_dsn}', table: docs, path: {tmp_path}/pg_records,\n"
        "                    index: {kind: hnsw}}}\n"
    )
    command = [sys.executable, "-m", "jobs.translate_corpus", "--config", str(tmp_path / "job.yaml")]

    finished_before = kill_after_shards(command, tmp_path / "db" / "_irp" / "docs" / "shards")
    assert 3 <= finished_before < 30, "the job must be killed part-way for this test to mean anything"
    for ref in (StoreRef("lancedb", str(tmp_path / "db"), "docs"), StoreRef("delta", str(tmp_path / "docs_delta"))):
        assert open_store(ref).read().sort_by("id").equals(old.sort_by("id"))  # the old table, whole and unchanged
    assert open_store(pg).read().equals(pg_before)

    again = subprocess.run(command, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "shards:      30 (" in again.stdout and "already done, skipped)" in again.stdout
    encoder = HFTextEncoder(HFTextSpec(model=str(tiny_bert_dir)))
    ids = sorted(texts)
    expected = load_translator(tmp_path / "db" / "_irp" / "docs" / "translator").transform(
        encoder.encode([texts[key] for key in ids])
    )
    for ref in (StoreRef("lancedb", str(tmp_path / "db"), "docs"), StoreRef("delta", str(tmp_path / "docs_delta")), pg):
        table = open_store(ref).read().sort_by("id")
        assert table.column("id").to_pylist() == ids  # every row once: nothing of the old table, nothing twice
        np.testing.assert_allclose(vectors_of(table.column("embedding")), expected, rtol=1e-4, atol=1e-4)
    # One publish each: one new version on top of the old one.
    assert lance.dataset(str(tmp_path / "db" / "docs.lance")).version == versions[0] + 1
    assert DeltaTable(tmp_path / "docs_delta").version() == versions[1] + 1
    # The planted password is nowhere: not in the job's output, its records, the tables' metadata.
    password = psycopg.conninfo.conninfo_to_dict(pg_dsn)["password"]
    assert password and password not in again.stdout + again.stderr
    records = [path for path in tmp_path.rglob("*") if path.is_file() and path.suffix in (".json", ".parquet", "")]
    assert records and not [path for path in records if password.encode() in path.read_bytes()]
    assert password not in json.dumps(open_store(pg).provenance())
