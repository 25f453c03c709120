"""LanceDB and Delta tables as stores: staged writes published in one step, upsert and delete by content hash."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from pipeline.config import IndexSpec
from pipeline.io.stores import StoreRef, content_hashes, open_store, publish_id
from pipeline.io.tables import embedding_array, vectors_of

pytest.importorskip("lance")
pytest.importorskip("deltalake")


def rows(ids: list, vectors: np.ndarray, hashes: list[str] | None = None) -> pa.Table:
    """Store rows: ``id``, ``embedding`` and ``content_hash`` (of the vector, unless given)."""
    column = embedding_array(vectors)
    return pa.table(
        {"id": ids, "embedding": column, "content_hash": content_hashes(column) if hashes is None else pa.array(hashes)}
    )


def with_facts(table: pa.Table, origin: str, run: str, space: str = "minilm") -> pa.Table:
    """Store rows with the facts a nightly store keeps per row."""
    for name, value in (("space", space), ("origin", origin), ("run", run)):
        table = table.append_column(name, pa.array([value] * table.num_rows, pa.string()))
    return table


def store_at(tmp_path, fmt: str):
    ref = (
        StoreRef("lancedb", str(tmp_path / "db"), "docs")
        if fmt == "lancedb"
        else StoreRef("delta", str(tmp_path / "docs_delta"))
    )
    return open_store(ref)


def stage_and_publish(store, table: pa.Table, run: str, parts: int, index=None, **provenance) -> dict:
    per_part = -(-table.num_rows // parts)
    staged = {
        f"part-{i:05d}": store.stage(f"part-{i:05d}", table.slice(i * per_part, per_part), run) for i in range(parts)
    }
    return store.publish(
        staged, {"space": "test/space", **provenance, "publish_id": publish_id(run, staged)}, index, run
    )


def sorted_rows(store) -> pa.Table:
    return store.read().sort_by("id")


@pytest.mark.parametrize("fmt", ["lancedb", "delta"])
def test_a_10000_row_table_round_trips_with_its_provenance(tmp_path, fmt):
    vectors = np.random.default_rng(0).standard_normal((10_000, 384)).astype(np.float32)
    ids = [f"doc-{i:05d}" for i in range(10_000)]
    store = store_at(tmp_path, fmt)
    index = IndexSpec("ivf_pq", num_partitions=8) if fmt == "lancedb" else None
    result = stage_and_publish(store, rows(ids, vectors), "run-a", parts=4, index=index, method="procrustes")
    assert result["published"] and result["rows"] == 10_000

    back = sorted_rows(store)
    assert back.column("id").to_pylist() == ids
    np.testing.assert_array_equal(vectors_of(back.column("embedding")), vectors)  # float32 in, float32 out
    assert back.column("content_hash").to_pylist() == content_hashes(embedding_array(vectors)).to_pylist()
    provenance = store.provenance()
    assert provenance["space"] == "test/space" and provenance["method"] == "procrustes"
    if fmt == "lancedb":
        [built] = store.dataset().describe_indices()
        assert built.num_rows_indexed == 10_000  # the index came with the publish, over every row


@pytest.mark.parametrize("fmt", ["lancedb", "delta"])
def test_staged_rows_stay_invisible_until_one_publish(tmp_path, fmt):
    rng = np.random.default_rng(1)
    old, new = rng.standard_normal((300, 8)).astype(np.float32), rng.standard_normal((500, 8)).astype(np.float32)
    store = store_at(tmp_path, fmt)
    stage_and_publish(store, rows([f"o{i}" for i in range(300)], old), "run-old", parts=2)
    before = sorted_rows(store)

    table = rows([f"n{i}" for i in range(500)], new)
    staged = {f"part-{i:05d}": store.stage(f"part-{i:05d}", table.slice(i * 250, 250), "run-new") for i in range(2)}
    store.stage("part-00001", table.slice(250, 250), "run-new")  # a retried write stages its part again
    assert sorted_rows(store).equals(before)  # staged, not published: readers still see the old table, whole

    provenance = {"space": "s", "publish_id": publish_id("run-new", staged)}
    assert store.publish(staged, provenance, None, "run-new")["published"]
    after = sorted_rows(store)
    assert after.column("id").to_pylist() == sorted(f"n{i}" for i in range(500))  # each staged row once
    again = store.publish(staged, provenance, None, "run-new")  # a rerun after an unrecorded publish
    assert not again["published"] and sorted_rows(store).equals(after)


@pytest.mark.parametrize("fmt", ["lancedb", "delta"])
def test_upsert_writes_only_changed_content_and_delete_removes_by_id(tmp_path, fmt):
    rng = np.random.default_rng(2)
    vectors = rng.standard_normal((6, 4)).astype(np.float32)
    store = store_at(tmp_path, fmt)
    stage_and_publish(store, rows(["a", "b", "c", "d", "e", "f"], vectors, list("abcdef")), "run", parts=1)

    fresh = rng.standard_normal((3, 4)).astype(np.float32)
    # "a" keeps its hash (so its new vector must not be written), "b" changed, "z" is new.
    counts = store.upsert(rows(["a", "b", "z"], fresh, ["a", "b2", "z"]))
    assert counts == {"inserted": 1, "updated": 1, "unchanged": 1}
    table = {row["id"]: row for row in sorted_rows(store).to_pylist()}
    np.testing.assert_array_equal(table["a"]["embedding"], vectors[0])
    np.testing.assert_array_equal(table["b"]["embedding"], fresh[1])
    assert table["b"]["content_hash"] == "b2" and sorted(table) == ["a", "b", "c", "d", "e", "f", "z"]

    assert store.delete(["c", "z", "missing", "it's"]) == 2  # a quote in an id is quoted, not injected
    assert sorted_rows(store).column("id").to_pylist() == ["a", "b", "d", "e", "f"]


def test_upsert_creates_a_missing_table(tmp_path):
    store = store_at(tmp_path, "delta")
    assert store.upsert(rows(["x", "y"], np.eye(2, 3, dtype=np.float32))) == {
        "inserted": 2,
        "updated": 0,
        "unchanged": 0,
    }
    assert sorted_rows(store).column("id").to_pylist() == ["x", "y"]


def test_a_relative_delta_path_is_a_local_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    store = open_store(StoreRef("delta", "tables/docs"))
    stage_and_publish(store, rows(["a", "b"], np.eye(2, 4, dtype=np.float32)), "run", parts=2)
    assert (tmp_path / "tables" / "docs" / "_delta_log").is_dir()
    assert sorted_rows(store).column("id").to_pylist() == ["a", "b"]


def test_a_lance_index_needs_enough_rows_to_train(tmp_path):
    store = store_at(tmp_path, "lancedb")
    with pytest.raises(ValueError, match="at least 256 rows"):
        stage_and_publish(store, rows(["a", "b", "c"], np.eye(3, 8, dtype=np.float32)), "run", 1, IndexSpec("ivf_pq"))
    assert not store.exists() or store.read().num_rows == 0  # nothing half-published


@pytest.mark.parametrize("fmt", ["lancedb", "delta"])
def test_a_store_table_is_read_in_shards_that_cover_every_row_once(tmp_path, fmt):
    from pipeline.io.sources import plan_shards, read_shard

    store = store_at(tmp_path, fmt)
    vectors = np.random.default_rng(3).standard_normal((1000, 4)).astype(np.float32)
    stage_and_publish(store, rows([f"r{i:04d}" for i in range(1000)], vectors), "run", parts=3)  # 3 files/fragments
    shards = plan_shards(store.ref.path, fmt, chunk_rows=150, store=store.ref)
    assert len(shards) >= 7 and plan_shards(store.ref.path, fmt, chunk_rows=150, store=store.ref) == shards
    pieces = [read_shard(shard, fmt, ["id", "embedding"], store=store.ref) for shard in shards]
    assert max(piece.num_rows for piece in pieces) <= 150
    read = pa.concat_tables(pieces).sort_by("id")
    assert read.column("id").to_pylist() == [f"r{i:04d}" for i in range(1000)]
    np.testing.assert_array_equal(vectors_of(read.column("embedding")), vectors)


def test_an_empty_store_table_is_refused_before_any_work(tmp_path):
    from pipeline.io.sources import plan_shards

    store = store_at(tmp_path, "lancedb")
    store.upsert(rows([], np.zeros((0, 4), np.float32)))
    with pytest.raises(ValueError, match="has no rows"):
        plan_shards(store.ref.path, "lancedb", store=store.ref)
    with pytest.raises(FileNotFoundError, match="no such table"):
        plan_shards(str(tmp_path), "lancedb", store=StoreRef("lancedb", str(tmp_path / "db"), "missing"))


@pytest.mark.parametrize("fmt", ["lancedb", "delta"])
def test_a_merge_upserts_and_deletes_in_one_version_and_can_be_applied_twice(tmp_path, fmt):
    rng = np.random.default_rng(4)
    store = store_at(tmp_path, fmt)
    night = with_facts(
        rows([f"d{i}" for i in range(8)], rng.standard_normal((8, 4)).astype(np.float32), ["h"] * 8),
        "translated",
        "night-1",
    )
    first = store.merge(night, [])  # the first night creates the table
    assert first["upserted"] == 8

    native = rng.standard_normal((2, 4)).astype(np.float32)
    # d1 keeps its content hash but gets a native vector (a backfill); d9 is new; d3 and d5 are gone.
    changes = with_facts(rows(["d1", "d9"], native, ["h", "n"]), "native", "night-2")
    version_before = first["version"]
    second = store.merge(changes, ["d3", "d5", "never-there"])
    assert (second["upserted"], second["deleted"]) == (2, 2)
    assert second["version"] == version_before + 1  # one new version for upserts and deletes together
    after = {row["id"]: row for row in sorted_rows(store).to_pylist()}
    assert sorted(after) == ["d0", "d1", "d2", "d4", "d6", "d7", "d9"]
    np.testing.assert_array_equal(after["d1"]["embedding"], native[0])
    assert (after["d1"]["origin"], after["d1"]["run"], after["d0"]["origin"]) == ("native", "night-2", "translated")

    table = sorted_rows(store)
    store.merge(changes, ["d3", "d5", "never-there"])  # a rerun of the same night changes nothing
    assert sorted_rows(store).equals(table)
    assert store.merge(table.slice(0, 0), ["d0"])["deleted"] == 1  # a night of deletes only
