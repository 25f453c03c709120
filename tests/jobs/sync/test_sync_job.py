"""`irp sync` on a real local Ray, night after night, into each store, on BBC News articles.

Seven nights per store (a Parquet directory, LanceDB, Delta and pgvector): the first embeds everything; the second
edits, deletes and adds rows; the third is SIGKILLed mid-encode and rerun; the fourth reads the same export again;
the fifth changes the model (the store is translated into the new space and published whole); the sixth backfills
translated rows natively; the seventh is a ``changes`` export. After each, the store holds exactly the export's ids,
every native vector equals a fresh encode, and only new and changed rows were encoded; a Parquet store reads back
exactly through every reader.

Two small BERTs with a vocabulary of the articles' own words stand in for the two models, so every night runs in
seconds; tests/jobs/sync/test_sync_real.py runs the model change with the real MiniLM and mpnet.
"""

from __future__ import annotations

import collections
import json
import re
import shutil
import sys
import uuid
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from pipeline.config import load_config
from pipeline.io.sources import plan_shards
from pipeline.io.stores import StoreRef, layout, open_store
from pipeline.io.tables import vectors_of
from pipeline.jobs.sync import RUNS_DIR, SyncConfig, run, run_id
from pipeline.packaged import load_bbc_news

from tests.conftest import build_tiny_bert, records_of
from tests.support.killing import kill_after_shards
from tests.support.readers import assert_every_reader_reads_exactly

pytest.importorskip("lance")
pytestmark = [pytest.mark.timeout(900)]

ARTICLES = 200


@pytest.fixture(scope="module")
def bbc(tmp_path_factory) -> dict[str, str]:
    """200 BBC News articles spread over the five topics (their first 300 characters), by id."""
    news = load_bbc_news(max_chars=300)
    step = len(news.ids) // ARTICLES
    return {news.ids[i]: news.texts[i] for i in range(0, step * ARTICLES, step)}


@pytest.fixture(scope="module")
def models(bbc, tmp_path_factory) -> dict[str, Path]:
    """An "old" 32-wide and a "new" 48-wide BERT that both read the articles' 800 commonest words."""
    counts = collections.Counter(word for text in bbc.values() for word in re.findall(r"[a-z]+", text.lower()))
    words = [word for word, _ in counts.most_common(800)]
    root = tmp_path_factory.mktemp("sync-models")
    return {
        "old": build_tiny_bert(root / "old-model", 0, 32, words),
        "new": build_tiny_bert(root / "new-model", 1, 48, words),
    }


class Fresh:
    """Fresh encodes of texts by each model, computed once."""

    def __init__(self, models: dict[str, Path]) -> None:
        from pipeline.encoders.hf_text import HFTextEncoder, HFTextSpec

        self.encoders = {name: HFTextEncoder(HFTextSpec(model=str(path))) for name, path in models.items()}
        self.known: dict[tuple[str, str], np.ndarray] = {}

    def __call__(self, model: str, texts: list[str]) -> np.ndarray:
        todo = sorted({text for text in texts if (model, text) not in self.known})
        if todo:
            self.known.update(zip([(model, t) for t in todo], self.encoders[model].encode(todo), strict=True))
        return np.stack([self.known[model, text] for text in texts])


@pytest.fixture(params=["parquet", "lancedb", "delta", "pgvector"])
def night_store(request, tmp_path):
    table = f"docs_{uuid.uuid4().hex[:8]}"
    if request.param == "parquet":
        return f"format: parquet, path: {tmp_path}/{table}", StoreRef("parquet", str(tmp_path / table))
    if request.param == "lancedb":
        return f"format: lancedb, path: {tmp_path}/db, table: {table}", StoreRef("lancedb", str(tmp_path / "db"), table)
    if request.param == "delta":
        return f"format: delta, path: {tmp_path}/{table}", StoreRef("delta", str(tmp_path / table))
    dsn = request.getfixturevalue("pg_dsn")
    return (
        f"format: pgvector, dsn: '{dsn}', table: {table}, path: {tmp_path}/records",
        StoreRef("pgvector", table=table, dsn=dsn),
    )


class Nights:
    """Writes tonight's export and config, runs the night, and checks the store."""

    def __init__(self, tmp_path: Path, store_block: str, ref: StoreRef, models: dict[str, Path], fresh: Fresh):
        self.tmp, self.block, self.ref, self.models, self.fresh = tmp_path, store_block, ref, models, fresh
        self.reports = 0

    def export(
        self, name: str, rows: dict[str, str], ops: dict[str, str] | None = None, rows_per_shard: int = 25
    ) -> Path:
        folder = self.tmp / name
        folder.mkdir()
        columns = {"id": list(rows), "text": list(rows.values())}
        if ops is not None:
            columns["op"] = [ops.get(key, "upsert") for key in rows]
        pq.write_table(pa.table(columns), folder / "part-0.parquet", row_group_size=rows_per_shard)
        return folder

    def config(self, folder: Path, model: str, extra: str = "", name: str = "sync.yaml") -> Path:
        path = self.tmp / name
        path.write_text(
            f"source: {{path: {folder}, text_column: text}}\n"
            f"encoder: {{kind: hf_text, model: {self.models[model]}}}\n"
            f"store: {{{self.block}}}\n"
            f"partitions: 4\n{extra}"
        )
        return path

    def run(self, folder: Path, model: str = "old", extra: str = "", *overrides: str) -> dict:
        """One night through the job's ``run``; its counts and facts, as its JSON report gives them."""
        self.reports += 1
        report = self.tmp / f"report-{self.reports}.json"
        lines = run(
            load_config(SyncConfig, self.config(folder, model, extra), [f"report={report}", *overrides]),
            say=lambda line: None,
        )
        assert any(line.startswith("rows:") for line in lines)
        summary = json.loads(report.read_text())
        return {
            **summary["counts"],
            "published": summary["published"],
            "already_done": summary["already_done"],
            "share_translated": summary["share_translated"],
            "translator": summary["translator"],
        }

    def check(self, rows: dict[str, str], model: str) -> pa.Table:
        """The store holds exactly ``rows``' ids, all in ``model``'s space; every native vector is a fresh encode."""
        table = open_store(self.ref).read().sort_by("id")
        ids = table.column("id").to_pylist()
        assert ids == sorted(rows)
        assert set(table.column("space").to_pylist()) == {f"hf_text/{model}-model"}
        if self.ref.format == "parquet":
            assert_every_reader_reads_exactly(Path(self.ref.path), list(rows))
        stored = vectors_of(table.column("embedding"))
        assert stored.shape[1] == {"old": 32, "new": 48}[model]
        native = np.flatnonzero(np.array(table.column("origin").to_pylist()) == "native")
        fresh = self.fresh(model, [rows[ids[i]] for i in native])
        stored = stored[native]
        cosine = (fresh * stored).sum(1) / np.linalg.norm(fresh, axis=1) / np.linalg.norm(stored, axis=1)
        assert cosine.min() >= 0.999
        return table

    def store_records(self) -> Path:
        """The store's records folder (its nights keep their runs there)."""
        config = load_config(SyncConfig, self.config(self.tmp / "night1", "old", name="records.yaml"))
        return Path(layout.records_of(config.store))

    def run_folder(self, folder: Path, model: str) -> Path:
        """The scratch folder of the night over ``folder`` (gone once the night has published)."""
        config = load_config(SyncConfig, self.config(folder, model, name="records.yaml"))
        name = run_id(config, [shard.key for shard in plan_shards(str(folder), "parquet")])
        return self.store_records() / RUNS_DIR / name


def version(ref: StoreRef) -> int | str:
    """The live version: Lance's or Delta's, or for PostgreSQL a digest of the table's rows."""
    if ref.format == "parquet":
        return json.loads((Path(ref.path) / "_manifest.json").read_text())["version"]
    if ref.format == "lancedb":
        import lance

        return lance.dataset(f"{ref.path}/{ref.table}.lance").version
    if ref.format == "delta":
        from deltalake import DeltaTable

        return DeltaTable(ref.path).version()
    import hashlib

    rows = open_store(ref).read().sort_by("id")
    return hashlib.sha256(repr(rows.to_pylist()).encode()).hexdigest()


def read_version(ref: StoreRef, number: int) -> pa.Table:
    """An older version of a Lance or Delta table, by time travel."""
    if ref.format == "lancedb":
        import lance

        return lance.dataset(f"{ref.path}/{ref.table}.lance", version=number).to_table().sort_by("id")
    from deltalake import DeltaTable

    return DeltaTable(ref.path, version=number).to_pyarrow_table().sort_by("id")


def test_seven_nights_on_bbc_news_in_each_store(local_ray, tmp_path, bbc, models, night_store):
    block, ref = night_store
    nights = Nights(tmp_path, block, ref, models, Fresh(models))
    ids = sorted(bbc)
    corpus = {key: bbc[key] for key in ids[:180]}
    spare = [key for key in ids if key not in corpus]  # articles that arrive later

    # Night 1: no table yet; everything is embedded.
    first = nights.run(nights.export("night1", corpus))
    assert (first["new"], first["encoded"], first["share_translated"]) == (180, 180, 0.0)
    nights.check(corpus, "old")

    # Night 2: 5 % edited, 3 % deleted, 5 % new.
    tonight = {key: text for key, text in corpus.items() if key not in ids[10:16]}
    tonight.update({key: corpus[key] + " Updated." for key in ids[20:29]})
    tonight.update({key: bbc[key] for key in spare[:9]})
    second = nights.run(nights.export("night2", tonight))
    assert {key: second[key] for key in ("new", "changed", "unchanged", "deleted", "encoded")} == {
        "new": 9,
        "changed": 9,
        "unchanged": 165,
        "deleted": 6,
        "encoded": 18,
    }
    before = nights.check(tonight, "old")

    # Night 3: 60 edits over 25 shards, SIGKILLed once a few shards are encoded; the rerun publishes once.
    third = {key: text + (" Corrected." if i % 3 == 0 else "") for i, (key, text) in enumerate(tonight.items())}
    folder = nights.export("night3", third, rows_per_shard=8)
    published_version = version(ref)
    command = [sys.executable, "-m", "jobs.reembed_nightly", "--config", str(nights.config(folder, "old"))]
    night = nights.run_folder(folder, "old")
    finished_before = kill_after_shards(command, records_of(night / "encoded") / "shards")
    assert 3 <= finished_before < 25, "the night must be killed part-way for this test to mean anything"
    assert version(ref) == published_version
    assert open_store(ref).read().sort_by("id").equals(before)  # the last published version, untouched
    rerun = nights.run(folder)
    assert (rerun["changed"], rerun["encoded"], rerun["encoded_before"]) == (61, 61, finished_before)
    assert not night.exists() and night.with_suffix(".json").exists()  # scratch gone once published; the record kept
    nights.check(third, "old")
    assert ref.format == "pgvector" or version(ref) == published_version + 1  # one new version

    # Night 4: the same export again is the same run; the same rows in another export encode nothing.
    assert nights.run(folder)["already_done"]
    shutil.copytree(folder, tmp_path / "night4")
    fourth = nights.run(tmp_path / "night4")
    assert (fourth["encoded"], fourth["unchanged"], fourth["published"]) == (0, 183, {})
    old_table = nights.check(third, "old")
    old_version = version(ref)

    # Night 5: a new model. Without an upgrade block the run refuses; with one, the store moves in one version.
    fifth = {key: text for key, text in third.items() if key not in ids[40:42]}
    fifth.update({key: third[key] + " Revised." for key in ids[50:53]})
    fifth.update({key: bbc[key] for key in spare[9:13]})
    folder = nights.export("night5", fifth)
    with pytest.raises(ValueError, match="upgrade"):
        nights.run(folder, "new")
    upgrade = "upgrade: {anchors: 40, translator: {method: procrustes}}\n"
    moved = nights.run(folder, "new", upgrade)
    assert {key: moved[key] for key in ("new", "changed", "deleted", "encoded", "anchors", "translated")} == {
        "new": 4,
        "changed": 3,
        "deleted": 2,
        "encoded": 7,
        "anchors": 40,
        "translated": len(fifth) - 47,
    }
    assert moved["share_translated"] == pytest.approx((len(fifth) - 47) / len(fifth))
    assert moved["translator"]["method"] == "procrustes" and moved["translator"]["anchors"] == 40
    assert 0.0 < moved["translator"]["quality"]["top1"] <= 1.0
    table = nights.check(fifth, "new")
    check_translations(table, old_table, nights.store_records())
    if ref.format in ("lancedb", "delta"):
        assert version(ref) == old_version + 1
        traveled = read_version(ref, old_version)  # the old space stays readable by time travel
        assert traveled.column("id").equals(old_table.column("id"))
        np.testing.assert_array_equal(
            vectors_of(traveled.column("embedding")), vectors_of(old_table.column("embedding"))
        )

    # Night 6: the same rows in a new export, backfilling 50 translated rows natively.
    shutil.copytree(folder, tmp_path / "night6")
    sixth = nights.run(tmp_path / "night6", "new", upgrade + "backfill: {rows_per_run: 50}\n")
    assert (sixth["encoded"], sixth["backfilled"], sixth["unchanged"]) == (0, 50, len(fifth))
    assert sixth["share_translated"] == pytest.approx((len(fifth) - 97) / len(fifth))
    table = nights.check(fifth, "new")
    assert table.column("origin").to_pylist().count("translated") == len(fifth) - 97
    # Its publish landed but its record is lost: the rerun finds its rows in the store and backfills no more.
    nights.run_folder(tmp_path / "night6", "new").with_suffix(".json").unlink()
    published_version = version(ref)
    assert nights.run(tmp_path / "night6", "new", upgrade + "backfill: {rows_per_run: 50}\n")["already_done"]
    assert version(ref) == published_version
    assert nights.check(fifth, "new").column("origin").to_pylist().count("translated") == len(fifth) - 97

    # Night 7: a changes export: one new row, one edit, one delete.
    changes = {spare[13]: bbc[spare[13]], ids[60]: fifth[ids[60]] + " Again.", ids[70]: fifth[ids[70]]}
    seventh = nights.run(nights.export("night7", changes, ops={ids[70]: "delete"}), "new", "", "mode=changes")
    assert {key: seventh[key] for key in ("new", "changed", "deleted", "encoded")} == {
        "new": 1,
        "changed": 1,
        "deleted": 1,
        "encoded": 2,
    }
    expected = {**{key: text for key, text in fifth.items() if key != ids[70]}, **changes}
    del expected[ids[70]]
    nights.check(expected, "new")
    for report in tmp_path.glob("report-*.json"):  # reports name the store, never its connection string
        assert "password" not in report.read_text()
    assert not list(nights.store_records().rglob("runs/*/*"))  # every night's scratch is gone


def check_translations(table: pa.Table, old_table: pa.Table, records: Path) -> None:
    """Every translated row is the upgrade's saved translator applied to the row's old vector."""
    from pipeline.translate import load_translator

    translator = load_translator(records / "translator")
    translated = table.filter(pc.equal(table.column("origin"), "translated"))
    old = old_table.filter(pc.is_in(old_table.column("id"), value_set=translated.column("id")))
    assert old.column("id").equals(translated.column("id"))
    expected = translator.transform(vectors_of(old.column("embedding")))
    np.testing.assert_allclose(vectors_of(translated.column("embedding")), expected, atol=1e-5)
