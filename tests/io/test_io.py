"""Sources, the embedding table contract and the output directory, on local and in-memory filesystems."""

from __future__ import annotations

import json

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.config import OutputConfig
from pipeline.io.folder import Folder
from pipeline.io.output import Output
from pipeline.io.records import quarantine_table
from pipeline.io.shard import Shard
from pipeline.io.sources import inputs_fingerprint, plan_shards, read_shard, resolve_path
from pipeline.io.tables import embedding_table, read_provenance, vectors_of

from tests.conftest import records_of
from tests.support.readers import assert_every_reader_reads_exactly


def test_embedding_table_contract_and_provenance():
    vectors = np.arange(12, dtype=np.float32).reshape(3, 4)
    table = embedding_table(["a", "b", "c"], vectors, {"space": "s", "method": "irp"})
    assert table.schema.field("embedding").type == pa.list_(pa.float32(), 4)
    assert read_provenance(table.schema) == {"space": "s", "method": "irp", "dim": 4}
    np.testing.assert_array_equal(vectors_of(table.column("embedding")), vectors)


def test_readers_accept_variable_lists_and_reject_ragged_or_null():
    as_lists = pa.array([[1.0, 2.0], [3.0, 4.0]], type=pa.list_(pa.float64()))
    np.testing.assert_array_equal(vectors_of(as_lists), [[1, 2], [3, 4]])
    assert vectors_of(as_lists).dtype == np.float32
    sliced = pa.chunked_array([pa.array([[9.0, 9.0], [1.0, 2.0], [3.0, 4.0]]).slice(1)])
    np.testing.assert_array_equal(vectors_of(sliced), [[1, 2], [3, 4]])
    with pytest.raises(ValueError, match="different lengths"):
        vectors_of(pa.array([[1.0], [1.0, 2.0]]))
    with pytest.raises(ValueError, match="1 null row"):
        vectors_of(pa.array([[1.0], None]))
    with pytest.raises(ValueError, match="not numbers"):
        vectors_of(pa.array([["a"], ["b"]]))


def _write_parquet(path, n, row_group_size):
    pq.write_table(
        pa.table({"id": list(range(n)), "text": [f"t{i}" for i in range(n)]}), path, row_group_size=row_group_size
    )


def test_parquet_shards_follow_files_and_row_groups(tmp_path):
    _write_parquet(tmp_path / "b.parquet", 10, 4)  # 3 row groups
    _write_parquet(tmp_path / "a.parquet", 3, 10)  # 1 row group
    (tmp_path / "_ignored.parquet").write_bytes(b"not parquet")
    shards = plan_shards(str(tmp_path), "parquet")
    assert [(s.files[0].rsplit("/", 1)[1], s.row_group) for s in shards] == [
        ("a.parquet", 0),
        ("b.parquet", 0),
        ("b.parquet", 1),
        ("b.parquet", 2),
    ]
    assert [s.name for s in shards] == ["part-00000", "part-00001", "part-00002", "part-00003"]
    assert read_shard(shards[3], "parquet").column("id").to_pylist() == [8, 9]
    assert plan_shards(str(tmp_path), "parquet") == shards  # deterministic


def test_jsonl_csv_and_memory_filesystem():
    fs = fsspec.filesystem("memory")
    fs.pipe("/src/x.jsonl", b'{"id": "a", "text": "one"}\n{"id": "b", "text": "two"}\n')
    fs.pipe("/src/y.csv", b"id,text\nc,three\n")
    [jsonl] = plan_shards("memory://src", "jsonl")
    assert read_shard(jsonl, "jsonl", ["id", "text"]).to_pylist() == [
        {"id": "a", "text": "one"},
        {"id": "b", "text": "two"},
    ]
    [csv] = plan_shards("memory://src/*.csv", "csv")
    assert read_shard(csv, "csv").to_pylist() == [{"id": "c", "text": "three"}]


def test_text_folder_shards_have_relative_ids(tmp_path):
    for label in ("b", "a"):
        (tmp_path / label).mkdir()
        for i in range(3):
            (tmp_path / label / f"{i}.txt").write_text(f"{label} text {i}")
    (tmp_path / ".hidden.txt").write_text("skip me")
    shards = plan_shards(str(tmp_path), "text", files_per_shard=4)
    assert len(shards) == 2
    first = read_shard(shards[0], "text")
    assert first.column("id").to_pylist() == ["a/0.txt", "a/1.txt", "a/2.txt", "b/0.txt"]
    assert first.column("text").to_pylist()[0] == "a text 0"
    [sample] = plan_shards(f"{tmp_path}/*/[01].txt", "text")  # a glob: ids relative to the folder above it
    assert read_shard(sample, "text").column("id").to_pylist() == ["a/0.txt", "a/1.txt", "b/0.txt", "b/1.txt"]


def test_text_folders_offer_title_and_body_columns(tmp_path):
    (tmp_path / "news.txt").write_text("\n  Claxton hunting first medal \n\nBritish hurdler Sarah Claxton...\nMore.\n")
    (tmp_path / "one_line.txt").write_text("Only a title")
    (tmp_path / "empty.txt").write_text("")
    [shard] = plan_shards(str(tmp_path), "text")
    table = read_shard(shard, "text", ["id", "title", "body"])
    assert table.column_names == ["id", "title", "body"]
    assert table.column("title").to_pylist() == ["", "Claxton hunting first medal", "Only a title"]
    assert table.column("body").to_pylist() == ["", "British hurdler Sarah Claxton...\nMore.", ""]


def test_package_paths_and_missing_sources(tmp_path):
    assert resolve_path("pkg://pipeline/io").endswith("pipeline/io")
    with pytest.raises(ValueError, match="package 'no_such_package' is not installed"):
        resolve_path("pkg://no_such_package/data")
    with pytest.raises(ValueError, match="no csv files found"):
        plan_shards(str(tmp_path), "csv")
    with pytest.raises(ValueError, match="unknown source format 'xml'"):
        plan_shards(str(tmp_path), "xml")


def test_an_output_stages_parts_aside_and_publishes_exactly_them_with_the_manifest_and_success_last(tmp_path):
    out = Output.of(OutputConfig(str(tmp_path / "out")), {"job_fingerprint": "f" * 64, "space": "s"}, {"k": 1})
    out.claim()
    table = embedding_table([1, 2], np.ones((2, 3), dtype=np.float32))
    rejected = quarantine_table({0: "null id"}, pa.array([None, 5]), "file:///x.jsonl")
    shard = Shard(0, ("file:///x.jsonl",))
    out.stage("part-00000", table, rejected, {"rows_in": 3, "rows_out": 2, "rows_quarantined": 1, "shard": shard.key})
    assert out.finished()["part-00000"]["rows_out"] == 2
    records = records_of(tmp_path / "out")
    assert pq.read_table(records / "quarantine" / "part-00000.parquet").to_pylist() == [
        {"id": None, "reason": "null id", "source": "file:///x.jsonl"}
    ]
    assert not (tmp_path / "out").exists()  # staged aside: readers see nothing until the publish
    published = out.finish([shard], {"failed": {}}, complete=True)
    assert published["published"] and published["rows"] == 2
    assert pq.read_table(tmp_path / "out" / "part-00000.parquet").equals(table)
    manifest = json.loads((tmp_path / "out" / "_manifest.json").read_text())
    assert manifest["shards"]["part-00000"]["rows_out"] == 2 and manifest["config"] == {"k": 1}
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["_SUCCESS", "_manifest.json", "part-00000.parquet"]
    assert_every_reader_reads_exactly(tmp_path / "out", [1, 2])
    assert not [p for p in tmp_path.rglob(".*")]  # temporaries were all moved into place
    assert not (records / "staging").exists()  # the publish moved every staged part in
    assert out.finish([shard], {"failed": {}}, complete=True)["published"] is False  # named: never twice


def test_a_write_killed_half_way_leaves_nothing_a_reader_or_resume_would_take(tmp_path, monkeypatch):
    out = Output.of(OutputConfig(str(tmp_path / "out")), {"job_fingerprint": "f" * 64})
    out.claim()
    shards = [Shard(i, (f"file-{i}",)) for i in range(2)]
    whole = embedding_table(["a", "b"], np.ones((2, 3), dtype=np.float32))
    out.stage("part-00000", whole, None, {"rows_in": 2, "rows_out": 2, "rows_quarantined": 0, "shard": shards[0].key})
    staging = records_of(tmp_path / "out") / "staging" / out.run
    digest = Folder(str(staging)).digest(".")

    def killed(table, where, **options):  # the process dies after the file is opened, with nothing in it
        raise KeyboardInterrupt

    monkeypatch.setattr(pq, "write_table", killed)
    with pytest.raises(KeyboardInterrupt):
        out.stage(
            "part-00001", whole, None, {"rows_in": 2, "rows_out": 2, "rows_quarantined": 0, "shard": shards[1].key}
        )
    monkeypatch.undo()
    (leftover,) = [p for p in staging.iterdir() if p.name.startswith(".")]
    assert leftover.stat().st_size == 0
    assert Folder(str(staging)).read_tables(".").equals(whole) and Folder(str(staging)).digest(".") == digest
    out.claim()  # the rerun
    assert out.resume(shards) == {"part-00000"}
    assert sorted(p.name for p in staging.iterdir()) == ["part-00000.parquet"]


def test_inputs_fingerprint_follows_names_sizes_and_stamps_not_reads(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text("alpha")
    (folder / "b.txt").write_text("beta")
    first = inputs_fingerprint(str(folder), "text")
    assert inputs_fingerprint(str(folder), "text") == first  # listing twice changes nothing
    (folder / "b.txt").write_text("beta, edited")
    edited = inputs_fingerprint(str(folder), "text")
    assert edited != first
    (folder / "c.txt").write_text("gamma")
    grown = inputs_fingerprint(str(folder), "text")
    assert grown != edited
    (folder / "_notes.txt").write_text("not an input: names starting with _ or . are skipped")
    assert inputs_fingerprint(str(folder), "text") == grown


def test_large_files_become_bounded_chunks_that_read_back_every_row_once(tmp_path):
    rows = [{"id": i, "text": f"row {i} " + "x" * (i % 50)} for i in range(3000)]
    (tmp_path / "big.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    shards = plan_shards(str(tmp_path / "big.jsonl"), "jsonl", chunk_bytes=16 << 10)
    assert len(shards) > 5 and all(s.byte_range is not None for s in shards)
    ids = [i for s in shards for i in read_shard(s, "jsonl", ["id"]).column("id").to_pylist()]
    assert ids == list(range(3000))
    _write_parquet(tmp_path / "big.parquet", 1000, 1000)  # one large row group
    pieces = plan_shards(str(tmp_path / "big.parquet"), "parquet", chunk_rows=300)
    assert [s.rows for s in pieces] == [(0, 300), (300, 600), (600, 900), (900, 1000)]
    assert [i for s in pieces for i in read_shard(s, "parquet", ["id"]).column("id").to_pylist()] == list(range(1000))
    assert plan_shards(str(tmp_path / "big.parquet"), "parquet")[0].rows is None  # fits the default budget


def test_an_edited_file_changes_only_its_own_shards_keys(tmp_path):
    for name in ("a", "b", "c"):
        (tmp_path / f"{name}.jsonl").write_text(json.dumps({"id": name, "text": name}) + "\n")
    before = [s.key for s in plan_shards(str(tmp_path), "jsonl")]
    assert [s.key for s in plan_shards(str(tmp_path), "jsonl")] == before  # planning twice changes nothing
    (tmp_path / "b.jsonl").write_text(json.dumps({"id": "b", "text": "b, edited"}) + "\n")
    after = [s.key for s in plan_shards(str(tmp_path), "jsonl")]
    assert [x == y for x, y in zip(before, after, strict=True)] == [True, False, True]


def test_a_corrupt_parquet_file_is_planned_as_one_shard_that_fails_when_read(tmp_path):
    _write_parquet(tmp_path / "a.parquet", 3, 10)
    (tmp_path / "b.parquet").write_bytes(b"PAR1 this is not a parquet file")
    shards = plan_shards(str(tmp_path), "parquet")
    assert [s.location.rsplit("/", 1)[1] for s in shards] == ["a.parquet#row_group=0", "b.parquet#row_group=0"]
    with pytest.raises((OSError, pa.ArrowException)):
        read_shard(shards[1], "parquet")
