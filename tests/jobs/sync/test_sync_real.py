"""`irp sync` with the real models: a LanceDB store of BBC News made by MiniLM moves to mpnet in one night, then
backfills; the translated rows must serve mpnet queries as a migrated index.

Edits and new rows take the text of other BBC articles, so every fresh vector is already known: the session's
``bbc_embeddings`` (both models, same encoder options as the job's) are the independent reference, and the test
encodes nothing itself.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.config import load_config
from pipeline.io.stores import StoreRef, open_store
from pipeline.io.tables import vectors_of
from pipeline.jobs.sync import SyncConfig, run
from pipeline.packaged import load_bbc_news

from tests.support.bbc import MAX_CHARS

pytest.importorskip("lance")
pytestmark = [pytest.mark.ray, pytest.mark.real, pytest.mark.slow]

MODELS = {"minilm": "all-MiniLM-L6-v2", "mpnet": "all-mpnet-base-v2"}


def night(tmp_path: Path, rows: dict[str, int], texts: list[str], model: str, extra: str = "") -> dict[str, Any]:
    """Export ``rows`` ({id: index of the article whose text it holds}) and run a night on it."""
    folder = tmp_path / f"night{len(list(tmp_path.glob('night*')))}"
    folder.mkdir()
    pq.write_table(
        pa.table({"id": list(rows), "text": [texts[i] for i in rows.values()]}),
        folder / "part-0.parquet",
        row_group_size=100,
    )
    (tmp_path / "sync.yaml").write_text(
        f"source: {{path: {folder}, text_column: text}}\n"
        f"encoder: {{kind: hf_text, model: 'packaged:{MODELS[model]}', pooling: mean, normalize: true}}\n"
        f"store: {{format: lancedb, path: {tmp_path}/db, table: bbc}}\n"
        f"partitions: 4\nexecution: {{actors: 1}}\n{extra}"
    )
    report = folder / "report.json"
    for line in run(load_config(SyncConfig, tmp_path / "sync.yaml", [f"report={report}"])):
        print(line)
    return json.loads(report.read_text())


def check(tmp_path: Path, rows: dict[str, int], reference: np.ndarray) -> tuple[pa.Table, np.ndarray]:
    """Exactly ``rows``' ids; each native vector equals the reference vector of the article its text came from.

    Returns:
        The table (sorted by id) and the ``(n, d)`` reference vectors of its rows.
    """
    table = open_store(StoreRef("lancedb", str(tmp_path / "db"), "bbc")).read().sort_by("id")
    assert table.column("id").to_pylist() == sorted(rows)
    truth = reference[[rows[key] for key in table.column("id").to_pylist()]]
    stored = vectors_of(table.column("embedding"))
    native = np.array(table.column("origin").to_pylist()) == "native"
    cosine = (stored[native] * truth[native]).sum(1) / np.linalg.norm(stored[native], axis=1)
    assert cosine.min() >= 0.999
    return table, truth


def test_a_minilm_store_moves_to_mpnet_in_one_night_and_backfills(tmp_path, bbc_embeddings):
    texts = load_bbc_news(max_chars=MAX_CHARS).texts
    assert len(texts) == len(bbc_embeddings["ids"])
    order = np.random.default_rng(0).permutation(len(texts))
    articles, spare = order[:500], order[500:600]
    rows = {f"doc{i:04d}": int(article) for i, article in enumerate(articles)}

    first = night(tmp_path, rows, texts, "minilm")
    assert first["counts"]["encoded"] == 500
    check(tmp_path, rows, bbc_embeddings["minilm"])

    keys = sorted(rows)
    tonight = {key: index for key, index in rows.items() if key not in keys[:15]}  # 3 % deleted
    tonight.update({key: int(spare[i]) for i, key in enumerate(keys[100:125])})  # 5 % edited
    tonight.update({f"new{i:03d}": int(spare[25 + i]) for i in range(25)})  # 5 % new
    second = night(tmp_path, tonight, texts, "minilm")
    assert {key: second["counts"][key] for key in ("new", "changed", "deleted", "encoded")} == {
        "new": 25,
        "changed": 25,
        "deleted": 15,
        "encoded": 50,
    }
    check(tmp_path, tonight, bbc_embeddings["minilm"])

    upgrade = "upgrade: {anchors: 200, translator: {method: auto}}\n"
    moved = night(tmp_path, tonight, texts, "mpnet", upgrade)
    assert (moved["counts"]["anchors"], moved["counts"]["translated"]) == (200, len(tonight) - 200)
    print("translator:", json.dumps(moved["translator"]))
    table, truth = check(tmp_path, tonight, bbc_embeddings["mpnet"])
    translated = np.array(table.column("origin").to_pylist()) == "translated"
    # The store as a migrated index: each translated row is searched for with its article's native mpnet vector
    # among every row of the store (raw cosine, as a vector store ranks).
    stored = vectors_of(table.column("embedding"))
    stored = stored / np.linalg.norm(stored, axis=1, keepdims=True)
    scores = truth[translated] @ stored.T
    own = scores[np.arange(translated.sum()), np.flatnonzero(translated)]
    ranks = 1 + (scores > own[:, None]).sum(1)
    top1, recall10 = float(np.mean(ranks == 1)), float(np.mean(ranks <= 10))
    print(
        f"translated rows found by native mpnet queries: top-1 {top1:.3f}, Recall@10 {recall10:.3f} "
        f"({translated.sum()} rows among {len(stored)})"
    )
    # Measured: top-1 0.565, Recall@10 0.994 (a translation that carried no meaning would give about 0.002, 0.02).
    assert top1 >= 0.45 and recall10 >= 0.97

    sixth = night(tmp_path, tonight, texts, "mpnet", upgrade + "backfill: {rows_per_run: 150}\n")
    assert (sixth["counts"]["backfilled"], sixth["counts"]["encoded"]) == (150, 0)
    table, _ = check(tmp_path, tonight, bbc_embeddings["mpnet"])
    assert table.column("origin").to_pylist().count("translated") == len(tonight) - 350
    assert sixth["share_translated"] == pytest.approx((len(tonight) - 350) / len(tonight))
