"""The pgvector store against a real PostgreSQL 18 + pgvector (a private server per session, see conftest.py)."""

from __future__ import annotations

import itertools
import pickle
import time
import traceback
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import psycopg
import pyarrow as pa
import pytest

from pipeline.config import IndexSpec
from pipeline.io.stores.base import StoreRef, content_hashes, publish_id
from pipeline.io.stores.pg_sql import scrub
from pipeline.io.stores.pgvector import PgVectorStore
from pipeline.io.tables import embedding_array, vectors_of

RUN = "0123456789abcdef-run-a"
OTHER_RUN = "fedcba987654-run-b"


def rows_of(ids: list, dim: int = 16, seed: int = 0) -> pa.Table:
    """``ids`` with random float32 vectors and the vectors' content hashes."""
    vectors = np.random.default_rng(seed).standard_normal((len(ids), dim)).astype(np.float32)
    embedding = embedding_array(vectors)
    return pa.table({"id": pa.array(ids), "embedding": embedding, "content_hash": content_hashes(embedding)})


def store(dsn: str, table: str) -> PgVectorStore:
    return PgVectorStore(StoreRef(format="pgvector", table=table, dsn=dsn))


def stage_parts(target: PgVectorStore, table: pa.Table, parts: int, run: str = RUN) -> dict[str, dict]:
    """Stage ``table`` split into ``parts`` equal parts; returns the stage records by part name."""
    size = -(-table.num_rows // parts)
    return {f"part-{i:05d}": target.stage(f"part-{i:05d}", table.slice(i * size, size), run) for i in range(parts)}


def publish(target: PgVectorStore, staged: dict, run: str = RUN, index: IndexSpec | None = None, **extra) -> dict:
    provenance = {"publish_id": publish_id(run, staged), "space": "test", **extra}
    return target.publish(staged, provenance, index, run)


def by_id(table: pa.Table) -> dict:
    return dict(zip(table.column("id").to_pylist(), vectors_of(table.column("embedding")), strict=True))


def index_defs(dsn: str, table: str) -> list[str]:
    with psycopg.connect(dsn) as conn:
        return [row[0] for row in conn.execute("SELECT indexdef FROM pg_indexes WHERE tablename = %s", [table])]


@pytest.mark.parametrize(
    "index",
    [
        pytest.param(None, id="no-index"),
        pytest.param(
            IndexSpec(kind="hnsw", metric="cosine", m=16, ef_construction=64), id="hnsw", marks=pytest.mark.slow
        ),  # the HNSW build alone takes 3-8 s on 2 cores
    ],
)
def test_round_trip_10k_x_384(pg_dsn: str, pg_table_name: str, index: IndexSpec | None) -> None:
    ids = [f"doc-{i:06d}" for i in range(10_000)]
    source = rows_of(ids, dim=384, seed=1)
    with store(pg_dsn, pg_table_name) as target:
        assert not target.exists() and target.provenance() == {}
        started = time.perf_counter()
        staged = stage_parts(target, source, 4)
        seconds = time.perf_counter() - started
        print(f"\nstage(): {source.num_rows / seconds:,.0f} rows/s for 10,000 x 384 in 4 parts")
        assert staged["part-00000"] == {"rows": 2500, "dim": 384}
        result = publish(target, staged, index=index)
        assert result["published"] and result["rows"] == 10_000 and isinstance(result["version"], int)
        back = target.read()
        assert target.exists()
        assert target.provenance() == {"publish_id": publish_id(RUN, staged), "space": "test"}
    assert back.schema.field("embedding").type == pa.list_(pa.float32(), 384)
    assert back.column("id").to_pylist() == ids
    np.testing.assert_array_equal(vectors_of(back.column("embedding")), vectors_of(source.column("embedding")))
    assert back.column("content_hash").to_pylist() == source.column("content_hash").to_pylist()
    definitions = index_defs(pg_dsn, pg_table_name)
    assert any(f"{pg_table_name}_pkey" in d for d in definitions), definitions
    if index is None:
        assert len(definitions) == 1, definitions
        return
    assert any(
        "USING hnsw" in d and "vector_cosine_ops" in d and f"{pg_table_name}_embedding_idx" in d for d in definitions
    ), definitions


def test_staging_a_part_twice_publishes_it_once(pg_dsn: str, pg_table_name: str) -> None:
    first, second = rows_of(list(range(100)), seed=1), rows_of(list(range(100)), seed=2)
    with store(pg_dsn, pg_table_name) as target:
        target.stage("part-00000", first, RUN)
        staged = {"part-00000": target.stage("part-00000", second, RUN)}
        assert publish(target, staged)["rows"] == 100
        back = target.read()
    assert back.schema.field("id").type == pa.int64()  # integer ids make a bigint key
    assert back.column("id").to_pylist() == list(range(100))
    np.testing.assert_array_equal(vectors_of(back.column("embedding")), vectors_of(second.column("embedding")))


def test_publishing_the_same_publish_id_twice_is_a_no_op(pg_dsn: str, pg_table_name: str) -> None:
    with store(pg_dsn, pg_table_name) as target:
        staged = stage_parts(target, rows_of(list(range(50))), 2)
        first = publish(target, staged)
        target.delete([0])  # a change the rerun must not undo
        again = publish(target, staged)
        assert again == {"version": first["version"], "rows": 49, "published": False}
        assert target.read().num_rows == 49


def test_parts_left_out_of_a_publish_are_dropped(pg_dsn: str, pg_table_name: str) -> None:
    with store(pg_dsn, pg_table_name) as target:
        staged = stage_parts(target, rows_of(list(range(90))), 3)
        kept = {name: record for name, record in staged.items() if name != "part-00001"}
        assert publish(target, kept)["rows"] == 60
        assert target.read(["id"]).column("id").to_pylist() == [*range(30), *range(60, 90)]


def test_live_table_is_untouched_while_another_run_stages(pg_dsn: str, pg_table_name: str) -> None:
    old, new = rows_of([f"k{i:03d}" for i in range(200)], seed=1), rows_of([f"k{i:03d}" for i in range(150)], seed=2)
    with store(pg_dsn, pg_table_name) as target:
        publish(target, stage_parts(target, old, 2), run=RUN, note="old")
        staged = stage_parts(target, new, 3, run=OTHER_RUN)
        with store(pg_dsn, pg_table_name) as reader:  # another session sees the published table only
            seen = reader.read()
            assert reader.provenance()["note"] == "old"
        assert seen.equals(target.read())
        np.testing.assert_array_equal(vectors_of(seen.column("embedding")), vectors_of(old.column("embedding")))
        publish(target, staged, run=OTHER_RUN, note="new")
        assert target.read().num_rows == 150 and target.provenance()["note"] == "new"
        target.stage("part-00000", new.slice(0, 10), "abandoned-run")
        target.discard("abandoned-run")
        target.discard("never-staged")
    with psycopg.connect(pg_dsn) as conn:
        left = conn.execute("SELECT count(*) FROM pg_tables WHERE tablename LIKE %s", [f"{pg_table_name}__irp_%"])
        assert left.fetchone()[0] == 0  # published staging tables are renamed, discarded ones dropped


def test_upsert_counts_and_leaves_equal_hash_rows_unwritten(pg_dsn: str, pg_table_name: str) -> None:
    base = rows_of([f"d{i}" for i in range(10)], seed=1)
    with store(pg_dsn, pg_table_name) as target:
        assert target.upsert(base) == {"inserted": 10, "updated": 0, "unchanged": 0}  # creates the table
        fresh = rows_of([f"d{i}" for i in range(5, 13)], seed=2)  # d5..d9 exist, d10..d12 are new
        hashes = fresh.column("content_hash").to_pylist()
        hashes[:3] = base.column("content_hash").to_pylist()[5:8]  # d5..d7 keep their old hash: not written
        fresh = fresh.set_column(2, "content_hash", pa.array(hashes))
        assert target.upsert(fresh) == {"inserted": 3, "updated": 2, "unchanged": 3}
        after = by_id(target.read())
    old, new = by_id(base), by_id(fresh)
    assert len(after) == 13
    for key in ("d5", "d6", "d7", "d0"):
        np.testing.assert_array_equal(after[key], old[key])
    for key in ("d8", "d9", "d10", "d12"):
        np.testing.assert_array_equal(after[key], new[key])


def test_upsert_rejects_an_id_twice_in_one_batch(pg_dsn: str, pg_table_name: str) -> None:
    with store(pg_dsn, pg_table_name) as target, pytest.raises(ValueError, match="repeats an id"):
        target.upsert(rows_of([1, 2, 1]))


def test_delete_by_id(pg_dsn: str, pg_table_name: str) -> None:
    with store(pg_dsn, pg_table_name) as target:
        assert target.delete([1, 2]) == 0  # no table yet
        target.upsert(rows_of(list(range(20))))
        assert target.delete(np.array([3, 4, 99], dtype=np.int64)) == 2
        assert target.delete([]) == 0
        assert target.read(["id"]).column("id").to_pylist() == [i for i in range(20) if i not in (3, 4)]


def test_duplicate_id_across_parts_fails_clearly_and_changes_nothing(pg_dsn: str, pg_table_name: str) -> None:
    with store(pg_dsn, pg_table_name) as target:
        publish(target, stage_parts(target, rows_of(["a", "b"]), 1, run=OTHER_RUN), run=OTHER_RUN)
        staged = {
            "part-00000": target.stage("part-00000", rows_of(["x", "dup-7", "y"]), RUN),
            "part-00001": target.stage("part-00001", rows_of(["dup-7", "z"], seed=3), RUN),
        }
        with pytest.raises(ValueError, match=rf"{pg_table_name}.*dup-7") as caught:
            publish(target, staged)
        message = "".join(traceback.format_exception(caught.value))
        assert "password" not in message and pg_dsn not in message
        assert target.read(["id"]).column("id").to_pylist() == ["a", "b"]  # the old table, still live
        staged["part-00001"] = target.stage("part-00001", rows_of(["z"], seed=3), RUN)  # staging survived
        assert publish(target, staged)["rows"] == 4


def test_a_planted_password_never_shows(pg_dsn: str, pg_table_name: str) -> None:
    planted = "Planted-Secret-9f3c1e"
    bad_dsn = pg_dsn.rsplit("password=", 1)[0] + f"password={planted}"
    target = store(bad_dsn, pg_table_name)
    assert planted not in repr(target) and planted not in repr(target.ref)
    with pytest.raises(ConnectionError) as caught:
        target.exists()
    exc = caught.value
    shown = [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
    assert pg_table_name in str(exc) and "password authentication failed" in str(exc)
    for text in shown:
        assert planted not in text
    assert exc.__cause__ is None and exc.__suppress_context__
    assert scrub(f"echo of {planted} here", bad_dsn) == "echo of *** here"


def test_sharded_read_covers_every_row_exactly_once(pg_dsn: str, pg_table_name: str) -> None:
    source = rows_of(list(range(3000)), dim=32, seed=4)
    with store(pg_dsn, pg_table_name) as target:
        target.upsert(source)  # never analyzed: plan_pages counts the rows itself
        check_sharded_read(target, source)
        publish(target, stage_parts(target, source, 3))  # analyzed by publish
        check_sharded_read(target, source)


def check_sharded_read(target: PgVectorStore, source: pa.Table) -> None:
    plan = target.plan_pages(400)
    assert len(plan) > 3 and plan[0][0] == 0
    assert all(a[1] == b[0] for a, b in itertools.pairwise(plan))  # contiguous, no gaps
    whole = pa.concat_tables([target.read_pages(pages, "id", "embedding") for pages in plan])
    assert sorted(whole.column("id").to_pylist()) == list(range(source.num_rows))  # each row once
    got, want = by_id(whole), by_id(source)
    np.testing.assert_array_equal(np.stack([got[i] for i in range(3000)]), np.stack([want[i] for i in range(3000)]))


def test_sharded_read_of_a_foreign_source_table(pg_dsn: str, pg_table_name: str) -> None:
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {pg_table_name} (doc_id bigint, body text, vec vector(3))")
        conn.execute(
            f"INSERT INTO {pg_table_name} SELECT i, 'text ' || i, ARRAY[i, 0, 1]::vector FROM generate_series(1, 500) i"
        )
    with store(pg_dsn, pg_table_name) as source:
        plan = source.plan_pages(100)
        texts = pa.concat_tables([source.read_pages(pages, "doc_id", "body") for pages in plan])
        vectors = pa.concat_tables([source.read_pages(pages, ["doc_id", "vec"]) for pages in plan])
        assert source.provenance() == {}
        assert source.plan_pages(10**9) == [(0, plan[-1][1])]
    assert texts.schema.field("body").type == pa.string()
    assert sorted(texts.column("doc_id").to_pylist()) == list(range(1, 501))
    assert vectors.schema.field("vec").type == pa.list_(pa.float32(), 3)
    assert dict(zip(texts.column("doc_id").to_pylist(), texts.column("body").to_pylist(), strict=True))[7] == "text 7"


def test_concurrent_stagers_share_one_staging_table(pg_dsn: str, pg_table_name: str) -> None:
    source = rows_of(list(range(800)), seed=5)

    def stage_one(i: int) -> tuple[str, dict]:
        with store(pg_dsn, pg_table_name) as own:  # one connection per worker, like separate processes
            return f"part-{i}", own.stage(f"part-{i}", source.slice(i * 100, 100), RUN)

    with ThreadPoolExecutor(8) as pool:
        staged = dict(pool.map(stage_one, range(8)))
    with store(pg_dsn, pg_table_name) as target:
        assert publish(target, staged)["rows"] == 800
        assert target.read(["id"]).column("id").to_pylist() == list(range(800))


def test_ivfflat_and_wide_vector_indexes(pg_dsn: str, pg_table_name: str) -> None:
    with store(pg_dsn, pg_table_name) as target:
        publish(target, stage_parts(target, rows_of(list(range(200))), 1), index=IndexSpec("ivfflat", "dot"))
        assert any(
            "USING ivfflat" in d and "vector_ip_ops" in d and "lists='14'" in d  # about sqrt(rows) lists
            for d in index_defs(pg_dsn, pg_table_name)
        )
    wide = f"{pg_table_name}_wide"
    with store(pg_dsn, wide) as target:
        publish(target, stage_parts(target, rows_of(list(range(20)), dim=2048), 1), index=IndexSpec("hnsw", "dot"))
        assert any("halfvec(2048)" in d and "halfvec_ip_ops" in d for d in index_defs(pg_dsn, wide))
        staged = stage_parts(target, rows_of(list(range(5)), dim=4001), 1, run=OTHER_RUN)
        with pytest.raises(ValueError, match="4000"):
            publish(target, staged, run=OTHER_RUN, index=IndexSpec("hnsw"))
        assert target.read().schema.field("embedding").type == pa.list_(pa.float32(), 2048)


def test_schema_qualified_table_and_missing_table(pg_dsn: str, pg_table_name: str) -> None:
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "Irp {pg_table_name}"')
    qualified = f"Irp {pg_table_name}.Vectors"
    with store(pg_dsn, qualified) as target:
        publish(target, stage_parts(target, rows_of(["p", "q"]), 2), index=IndexSpec("hnsw"))
        assert target.read().num_rows == 2 and target.exists()
    with store(pg_dsn, pg_table_name) as missing, pytest.raises(LookupError, match=pg_table_name):
        missing.read()


def test_a_used_store_pickles_without_its_connection(pg_dsn: str, pg_table_name: str) -> None:
    with store(pg_dsn, pg_table_name) as target:
        target.upsert(rows_of([1, 2]))
        copy = pickle.loads(pickle.dumps(target))  # write tasks receive stores this way
    with copy:
        assert copy.read().num_rows == 2


def with_facts(rows: pa.Table, **facts: list) -> pa.Table:
    """``rows`` plus fact columns (``space=[...]``), as strings."""
    for name, values in facts.items():
        rows = rows.append_column(name, pa.array(values, pa.string()))
    return rows


def test_row_facts_round_trip_through_stage_and_publish(pg_dsn: str, pg_table_name: str) -> None:
    source = with_facts(
        rows_of([f"r{i:02d}" for i in range(40)], seed=6),
        space=["bge"] * 40,
        origin=["native", "translated"] * 20,
        run=["night-1"] * 39 + [None],
    )
    with store(pg_dsn, pg_table_name) as target:
        assert publish(target, stage_parts(target, source, 2))["rows"] == 40
        back = target.read()
    assert back.column_names == ["id", "embedding", "content_hash", "space", "origin", "run"]
    assert back.equals(source)  # same order (by id), vectors, hashes and facts, nulls included


def test_row_facts_round_trip_through_upsert(pg_dsn: str, pg_table_name: str) -> None:
    ids = list(range(12))
    first = with_facts(rows_of(ids, seed=7), run=["n1"] * 12, origin=["translated"] * 12)  # not in ROW_FACTS order
    with store(pg_dsn, pg_table_name) as target:
        target.upsert(first)
        back = target.read()
        assert back.column_names == ["id", "embedding", "content_hash", "origin", "run"]
        assert back.select(first.column_names).equals(first)
        changed = with_facts(rows_of(ids[:4], seed=8), run=["n2"] * 4, origin=["native"] * 4)
        assert target.upsert(changed) == {"inserted": 0, "updated": 4, "unchanged": 0}
        after = target.read(["id", "origin", "run"]).to_pylist()
    assert after[:4] == [{"id": i, "origin": "native", "run": "n2"} for i in range(4)]
    assert after[4] == {"id": 4, "origin": "translated", "run": "n1"}


def test_rows_must_have_the_tables_fact_columns(pg_dsn: str, pg_table_name: str) -> None:
    with store(pg_dsn, pg_table_name) as target:
        target.upsert(with_facts(rows_of([1, 2]), space=["s", "s"], origin=["native", "native"]))
        with pytest.raises(ValueError, match=r"missing \['origin'\], extra \['run'\]") as caught:
            target.upsert(with_facts(rows_of([3]), space=["s"], run=["r"]))
        assert pg_dsn not in str(caught.value) and pg_table_name in str(caught.value)
        with pytest.raises(ValueError, match=r"missing \['space', 'origin'\], extra \[\]"):
            target.merge(rows_of([3]), [1])
        assert target.read(["id"]).column("id").to_pylist() == [1, 2]  # the failed merge deleted nothing
        target.stage("part-0", with_facts(rows_of([5]), run=["r"]), RUN)  # a staging table of its own layout
        with pytest.raises(ValueError, match=r"missing \['run'\], extra \[\]"):
            target.stage("part-1", rows_of([6]), RUN)
    with store(pg_dsn, f"{pg_table_name}_plain") as plain:
        plain.upsert(rows_of([1]))  # no facts: today's layout, and later factless rows still fit
        assert plain.upsert(rows_of([1, 2], seed=1)) == {"inserted": 1, "updated": 1, "unchanged": 0}
        with pytest.raises(ValueError, match=r"missing \[\], extra \['space'\]"):
            plain.upsert(with_facts(rows_of([3]), space=["s"]))


def row_versions(dsn: str, table: str) -> dict:
    """``{id: xmin}``: the transaction that last wrote each row."""
    with psycopg.connect(dsn) as conn:
        return dict(conn.execute(f"SELECT id, xmin::text::bigint FROM {table}").fetchall())


def test_merge_replaces_inserts_and_deletes_in_one_version(pg_dsn: str, pg_table_name: str) -> None:
    ids = [f"d{i}" for i in range(10)]
    base = with_facts(rows_of(ids, seed=1), origin=["translated"] * 10)
    backfill = rows_of([*ids[5:8], "d10", "d11"], seed=2)  # d5..d7 replaced by native vectors of the same content
    hashes = backfill.column("content_hash").to_pylist()
    hashes[:3] = base.column("content_hash").to_pylist()[5:8]
    backfill = with_facts(backfill.set_column(2, "content_hash", pa.array(hashes)), origin=["native"] * 5)
    with store(pg_dsn, pg_table_name) as target:
        target.upsert(base)
        result = target.merge(backfill, ["d0", "d1", "unknown"])
        assert result["upserted"] == 5 and result["deleted"] == 2 and isinstance(result["version"], int)
        assert set(row_versions(pg_dsn, pg_table_name).values()) >= {result["version"]}  # the rows it wrote
        once = target.read()
        again = target.merge(backfill, ["d0", "d1", "unknown"])
        assert again["upserted"] == 5 and again["deleted"] == 0 and again["version"] != result["version"]
        assert target.read().equals(once)  # idempotent
    got, new, old = by_id(once), by_id(backfill), by_id(base)
    assert sorted(got) == sorted([*ids[2:], "d10", "d11"])
    for key in ("d5", "d7", "d10"):
        np.testing.assert_array_equal(got[key], new[key])
    np.testing.assert_array_equal(got["d2"], old["d2"])
    origins = dict(zip(once.column("id").to_pylist(), once.column("origin").to_pylist(), strict=True))
    assert origins["d5"] == "native" and origins["d4"] == "translated"


def test_merge_into_a_missing_table_creates_it(pg_dsn: str, pg_table_name: str) -> None:
    rows = with_facts(rows_of([3, 1, 2], seed=4), space=["s"] * 3)
    with store(pg_dsn, pg_table_name) as target:
        result = target.merge(rows, [1, 99])  # deletes run after the upserts: id 1 goes again
        assert result["upserted"] == 3 and result["deleted"] == 1
        back = target.read()
    assert back.schema.field("id").type == pa.int64()
    assert back.column_names == ["id", "embedding", "content_hash", "space"]
    assert back.column("id").to_pylist() == [2, 3]


def test_merge_with_only_deletes(pg_dsn: str, pg_table_name: str) -> None:
    with store(pg_dsn, pg_table_name) as target:
        result = target.merge(rows_of([]), ["a"])  # no table: nothing to delete, nothing created
        assert result["upserted"] == 0 and result["deleted"] == 0 and isinstance(result["version"], int)
        assert not target.exists()
        target.upsert(rows_of(["a", "b", "c"]))
        assert target.merge(rows_of([]).slice(0, 0), np.array(["a", "c", "z"]))["deleted"] == 2
        assert target.read(["id"]).column("id").to_pylist() == ["b"]


def test_a_failed_merge_changes_nothing(pg_dsn: str, pg_table_name: str) -> None:
    with store(pg_dsn, pg_table_name) as target:
        target.upsert(rows_of([1, 2, 3]))
        before = target.read()
        with pytest.raises(ValueError, match="repeats an id"):
            target.merge(rows_of([4, 5, 4], seed=2), [1, 2])
        assert target.read().equals(before)
