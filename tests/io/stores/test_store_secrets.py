"""Planted credentials for every store, as source and as sink, never show.

Every store block carries ``storage_options`` with a planted key and secret (Lance, Delta and fsspec accept them
and a local path ignores them), and PostgreSQL's DSN carries the test server's real password. The jobs run as a
user runs them (``python -m jobs.<job>``, each with a Ray of its own); afterwards no needle is on their stdout or
stderr, in any file under the test's folder (parts, records, manifests, ``_job.json``, reports, the Lance and Delta
tables' own files and metadata), in PostgreSQL's table comments, or in Ray's logs of those runs; and a run that
fails on a wrong password or a missing table says why without them.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.io.stores import StoreRef, open_store
from pipeline.io.tables import embedding_table

from tests.support.leaks import files_holding, ray_logs_holding, run_job, shown

pytest.importorskip("lance")
pytest.importorskip("deltalake")
pytestmark = [pytest.mark.ray, pytest.mark.timeout(600), pytest.mark.slow]

KEY, SECRET = "AKIAPLANTEDKEY7Q2X", "planted-secret-Zx81Qw"
OPTIONS = f"storage_options: {{key: {KEY}, secret: {SECRET}}}"
STORES = ("lancedb", "delta", "pgvector")


class Place:
    """One test's folder and PostgreSQL server: where each store's tables go, and the needles to look for."""

    def __init__(self, root: Path, configs: Path, dsn: str) -> None:
        import psycopg

        self.root, self.configs, self.dsn, self.suffix = root, configs, dsn, uuid.uuid4().hex[:8]
        self.needles = (KEY, SECRET, psycopg.conninfo.conninfo_to_dict(dsn)["password"])

    def block(self, fmt: str, table: str, dsn: str | None = None) -> str:
        """A source or output block's keys for ``fmt``'s table ``table``, credentials included (YAML flow)."""
        where = {
            "lancedb": f"format: lancedb, path: {self.root}/db, table: {table}",
            "delta": f"format: delta, path: {self.root}/delta_{table}",
            "pgvector": f"format: pgvector, dsn: '{dsn or self.dsn}', table: {table}_{self.suffix}, "
            f"path: {self.root}/pg_records_{table}",
        }[fmt]
        return f"{where}, {OPTIONS}"

    def ref(self, fmt: str, table: str) -> StoreRef:
        return {
            "lancedb": StoreRef("lancedb", f"{self.root}/db", table),
            "delta": StoreRef("delta", f"{self.root}/delta_{table}"),
            "pgvector": StoreRef("pgvector", table=f"{table}_{self.suffix}", dsn=self.dsn),
        }[fmt]

    def config(self, name: str, text: str) -> Path:
        path = self.configs / f"{name}.yaml"  # beside the folder searched: the configs hold the needles
        path.write_text(text)
        return path

    def leaks(self, ran, started: float) -> list[str]:
        """Every place a needle showed: the run's output, a file under the folder, Ray's logs of the run."""
        return [
            *shown(ran, self.needles),
            *files_holding(self.root, self.needles),
            *ray_logs_holding(started, self.needles),
        ]


@pytest.fixture(scope="module")
def place(tmp_path_factory, tiny_bert_dir, pg_dsn, tally) -> Place:
    """A JSONL corpus (credentials on the source) translated by one job into all three stores and a Parquet
    folder, each with credentials; anchor tables for the stores' 8-d space."""
    place = Place(tmp_path_factory.mktemp("store-secrets"), tmp_path_factory.mktemp("configs"), pg_dsn)
    rng = np.random.default_rng(0)
    (place.root / "corpus").mkdir()
    (place.root / "corpus" / "0.jsonl").write_text(
        "".join(f'{{"id": "d{i}", "text": "the cat sat on mat {i}"}}\n' for i in range(60))
    )
    anchors = rng.normal(size=(40, 32)).astype(np.float32)
    stored = anchors @ rng.normal(size=(32, 8)).astype(np.float32)
    for name, vectors in (("a32", anchors), ("a8", stored), ("a4", stored[:, :4])):
        pq.write_table(embedding_table([f"a{j}" for j in range(40)], vectors), place.root / f"{name}.parquet")
    anchors_block = f"anchors: {{source: {place.root}/a32.parquet, target: {place.root}/a8.parquet, {OPTIONS}}}"
    targets = "".join(f"  {fmt}: {{{anchors_block}, output: {{{place.block(fmt, 'docs')}}}}}\n" for fmt in STORES)
    config = place.config(
        "fill",
        (
            f"source: {{path: {place.root}/corpus, format: jsonl, text_column: text, {OPTIONS}}}\n"
            f"encoder: {{kind: hf_text, model: {tiny_bert_dir}}}\n"
            "translator: {method: procrustes}\n"
            f"targets:\n{targets}"
            f"  files: {{{anchors_block}, output: {{path: {place.root}/files_out, {OPTIONS}}}}}\n"
        ),
    )
    started = time.time()
    ran = run_job("translate_corpus", config)
    tally.said("secrets: every store as a sink", ran.stdout, ran.stderr)
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert place.leaks(ran, started) == []
    for fmt in STORES:
        assert open_store(place.ref(fmt, "docs")).read().num_rows == 60
        assert not [
            needle for needle in place.needles if needle in str(open_store(place.ref(fmt, "docs")).provenance())
        ]
    return place


@pytest.mark.parametrize("fmt", STORES)
def test_a_store_read_as_a_source_shows_no_credential(place, fmt, tally):
    def config(source_block: str, out: str) -> Path:
        return place.config(
            f"read-{fmt}",
            (
                f"source: {{{source_block}, vector_column: embedding}}\n"
                f"anchors: {{source: {place.root}/a8.parquet, target: {place.root}/a4.parquet}}\n"
                "translator: {method: procrustes}\n"
                f"output: {{path: {place.root}/{out}, {OPTIONS}}}\n"
            ),
        )

    started = time.time()
    ran = run_job("translate_corpus", config(place.block(fmt, "docs"), f"from_{fmt}"))
    tally.said(f"secrets: {fmt} as a source", ran.stdout, ran.stderr)
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert pq.read_table(place.root / f"from_{fmt}").num_rows == 60
    assert place.leaks(ran, started) == []

    # A run that cannot read its store says why, and still shows no credential.
    wrong = "Wrong-Planted-Pw-4d2" if fmt == "pgvector" else None
    broken = (
        place.block(fmt, "docs", dsn=place.dsn.rsplit("password=", 1)[0] + f"password={wrong}")
        if wrong
        else place.block(fmt, "no_such_table")
    )
    failed = run_job("translate_corpus", config(broken, f"never_{fmt}"))
    tally.said(f"secrets: {fmt} unreadable", failed.stdout, failed.stderr)
    assert failed.returncode == 1 and "Traceback" not in failed.stderr, failed.stderr[-3000:]
    assert ("password authentication failed" if wrong else "no_such_table") in failed.stderr
    assert shown(failed, (*place.needles, *([wrong] if wrong else []))) == []


@pytest.mark.parametrize("fmt", ["lancedb", "pgvector"])
def test_a_nightly_sync_shows_no_credential(place, tiny_bert_dir, fmt, tally):
    (place.root / f"export_{fmt}").mkdir()
    pq.write_table(
        pa.table({"id": [f"n{i}" for i in range(30)], "text": [f"the dog ran {i}" for i in range(30)]}),
        place.root / f"export_{fmt}" / "0.parquet",
    )
    config = place.config(
        f"sync-{fmt}",
        (
            f"source: {{path: {place.root}/export_{fmt}, text_column: text, {OPTIONS}}}\n"
            f"encoder: {{kind: hf_text, model: {tiny_bert_dir}}}\n"
            f"store: {{{place.block(fmt, 'nightly')}}}\n"
            f"report: {place.root}/report_{fmt}.json\n"
        ),
    )
    started = time.time()
    ran = run_job("reembed_nightly", config)
    tally.said(f"secrets: a nightly sync into {fmt}", ran.stdout, ran.stderr)
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert (place.root / f"report_{fmt}.json").exists() and open_store(place.ref(fmt, "nightly")).read().num_rows == 30
    assert place.leaks(ran, started) == []
