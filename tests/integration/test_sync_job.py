"""`irp sync` on a real local Ray, night after night, into each store: only new and changed rows are encoded."""

from __future__ import annotations

import json
import uuid

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.config import SyncConfig, load_config
from pipeline.io.stores import StoreRef, open_store
from pipeline.io.tables import vectors_of
from pipeline.jobs.reembed_nightly import run

from tests.conftest import TINY_WORDS

pytest.importorskip("lance")
pytestmark = [pytest.mark.timeout(600)]


def store_keys(fmt: str, tmp_path, dsn: str | None) -> tuple[str, StoreRef]:
    table = f"docs_{uuid.uuid4().hex[:8]}"
    if fmt == "lancedb":
        return f"format: lancedb, path: {tmp_path}/db, table: {table}", StoreRef("lancedb", str(tmp_path / "db"), table)
    if fmt == "delta":
        return f"format: delta, path: {tmp_path}/{table}", StoreRef("delta", str(tmp_path / table))
    return (f"format: pgvector, dsn: '{dsn}', table: {table}, path: {tmp_path}/records",
            StoreRef("pgvector", table=table, dsn=dsn or ""))


@pytest.fixture(params=["lancedb", "delta", "pgvector"])
def night_store(request, tmp_path):
    dsn = request.getfixturevalue("pg_dsn") if request.param == "pgvector" else None
    return store_keys(request.param, tmp_path, dsn)


def export(folder, rows: dict[int, str], ops: dict[int, str] | None = None):
    folder.mkdir(parents=True, exist_ok=True)
    columns = {"id": list(rows), "text": list(rows.values())}
    if ops is not None:
        columns["op"] = [ops.get(key, "upsert") for key in rows]
    pq.write_table(pa.table(columns), folder / "part-0.parquet", row_group_size=25)  # a few shards


def night(tmp_path, store_block: str, folder, *overrides) -> dict:
    """Run one night through the job's ``run`` and return its counts, as its JSON report gives them."""
    report = tmp_path / f"report-{folder.name}-{len(list(tmp_path.glob('report-*')))}.json"
    (tmp_path / "sync.yaml").write_text(
        f"source: {{path: {folder}, text_column: text}}\n"
        f"encoder: {{kind: hf_text, model: {tmp_path / 'model'}}}\n"
        f"store: {{{store_block}}}\n"
        "partitions: 4\n"
    )
    lines = run(load_config(SyncConfig, tmp_path / "sync.yaml", [f"report={report}", *overrides]),
                say=lambda line: None)
    summary = json.loads(report.read_text())
    assert any(line.startswith("rows:") for line in lines)
    return {**summary["counts"], "published": bool(summary["published"]), "already_done": summary["already_done"]}


def check_store(ref: StoreRef, rows: dict[int, str], model_dir) -> None:
    """The store holds exactly the export's ids, each with the vector a fresh encode gives."""
    from pipeline.encoders.hf_text import HFTextEncoder, HFTextSpec

    table = open_store(ref).read().sort_by("id")
    ids = table.column("id").to_pylist()
    assert ids == sorted(rows)
    fresh = HFTextEncoder(HFTextSpec(model=str(model_dir))).encode([rows[key] for key in ids])
    stored = vectors_of(table.column("embedding"))
    cosine = (fresh * stored).sum(1) / np.linalg.norm(fresh, axis=1) / np.linalg.norm(stored, axis=1)
    assert cosine.min() >= 0.999
    assert set(table.column("origin").to_pylist()) == {"native"}


def test_nights_encode_only_new_and_changed_rows_and_publish_one_version(local_ray, tmp_path, tiny_bert_dir,
                                                                           night_store):
    import shutil

    shutil.copytree(tiny_bert_dir, tmp_path / "model")
    block, ref = night_store
    rng = np.random.default_rng(0)
    corpus = {i: " ".join(rng.choice(TINY_WORDS, size=6)) for i in range(100)}
    export(tmp_path / "night1", corpus)
    first = night(tmp_path, block, tmp_path / "night1")
    assert (first["new"], first["encoded"]) == (100, 100)
    check_store(ref, corpus, tmp_path / "model")

    tonight = {key: text for key, text in corpus.items() if key not in (3, 4, 5)}  # 3 deleted
    for key in (10, 11, 12, 13, 14):
        tonight[key] = corpus[key] + " edited"  # 5 changed
    tonight.update({200 + i: " ".join(rng.choice(TINY_WORDS, size=4)) for i in range(5)})  # 5 new
    export(tmp_path / "night2", tonight)
    second = night(tmp_path, block, tmp_path / "night2")
    assert {key: second[key] for key in ("new", "changed", "unchanged", "deleted", "encoded")} == {
        "new": 5, "changed": 5, "unchanged": 92, "deleted": 3, "encoded": 10}
    check_store(ref, tonight, tmp_path / "model")

    again = night(tmp_path, block, tmp_path / "night2")  # the same run again: recorded as published
    assert again["already_done"]
    shutil.copytree(tmp_path / "night2", tmp_path / "night4")  # the same rows, another export
    fourth = night(tmp_path, block, tmp_path / "night4")
    assert (fourth["encoded"], fourth["unchanged"], fourth["published"]) == (0, 102, False)
    check_store(ref, tonight, tmp_path / "model")

    # A changes export: two upserts (one new, one edited) and a delete.
    changes = {300: "the cat sat", 20: tonight[20] + " again", 30: tonight[30]}
    export(tmp_path / "night5", changes, ops={30: "delete"})
    fifth = night(tmp_path, block, tmp_path / "night5", "mode=changes")
    assert {key: fifth[key] for key in ("new", "changed", "deleted", "encoded")} == {
        "new": 1, "changed": 1, "deleted": 1, "encoded": 2}
    expected = {**{key: text for key, text in tonight.items() if key != 30}, 300: "the cat sat",
                20: tonight[20] + " again"}
    check_store(ref, expected, tmp_path / "model")
    for report in tmp_path.glob("report-*.json"):  # reports name the store, never its connection string
        assert "password" not in report.read_text()


@pytest.mark.slow
def test_a_night_killed_mid_encode_leaves_the_store_and_its_rerun_publishes_once(tmp_path, tiny_bert_dir):
    import shutil
    import subprocess
    import sys

    import lance

    from pipeline.io.sources import plan_shards
    from pipeline.jobs.reembed_nightly import RUNS_DIR, run_id

    from tests.integration.killing import kill_after_shards

    shutil.copytree(tiny_bert_dir, tmp_path / "model")
    block, ref = store_keys("lancedb", tmp_path, None)
    rng = np.random.default_rng(1)
    corpus = {i: " ".join(rng.choice(TINY_WORDS, size=6)) for i in range(300)}
    export(tmp_path / "night1", corpus)
    command = [sys.executable, "-m", "jobs.reembed_nightly", "--config", str(tmp_path / "sync.yaml")]
    night(tmp_path, block, tmp_path / "night1")  # writes sync.yaml too
    before = open_store(ref).read().sort_by("id")
    version = lance.dataset(f"{ref.path}/{ref.table}.lance").version

    tonight = {key: text + (" edited" if key % 3 == 0 else "") for key, text in corpus.items()}  # 100 changed
    folder = tmp_path / "night3"
    folder.mkdir()
    pq.write_table(pa.table({"id": list(tonight), "text": list(tonight.values())}), folder / "part-0.parquet",
                   row_group_size=10)  # 30 shards, each with changed rows
    (tmp_path / "sync.yaml").write_text((tmp_path / "sync.yaml").read_text().replace(str(tmp_path / "night1"),
                                                                                       str(folder)))
    config = load_config(SyncConfig, tmp_path / "sync.yaml")
    name = run_id(config, [shard.key for shard in plan_shards(str(folder), "parquet")])
    encoded = tmp_path / "db" / "_irp" / ref.table / RUNS_DIR / name / "encoded" / "_shards"
    finished_before = kill_after_shards(command, encoded)
    assert 3 <= finished_before < 30, "the night must be killed part-way for this test to mean anything"
    assert open_store(ref).read().sort_by("id").equals(before)  # the last published version, untouched
    assert lance.dataset(f"{ref.path}/{ref.table}.lance").version == version

    again = subprocess.run(command, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "changed 100" in again.stdout and "encoded 100" in again.stdout
    assert f"encoded_before {finished_before}" in again.stdout  # shards encoded before the kill were reused
    check_store(ref, tonight, tmp_path / "model")
    assert lance.dataset(f"{ref.path}/{ref.table}.lance").version == version + 1  # published once
