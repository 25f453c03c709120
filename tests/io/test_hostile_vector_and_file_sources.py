"""Hostile stored vectors, ids and files through the real jobs on a local Ray.

Vectors go through ``translate_corpus`` (no model: the ``precomputed`` encoder checks them), one file per case.
Ids go through ``embed``. A file that cannot be read fails its own shard and the job names it; a source with no
matching file stops the job with one line and exit code 1, never a traceback.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.config import load_config
from pipeline.engine.driver import ShardsFailed
from pipeline.io.tables import embedding_table
from pipeline.jobs.embed import EmbedConfig, run_embed
from pipeline.jobs.embed import main as embed_main
from pipeline.jobs.translate_corpus import TranslateConfig, run_translate

from tests.conftest import records_of, staged_parts

pytestmark = [pytest.mark.timeout(300)]

DIM = 8
RNG = np.random.default_rng(0)


def vectors(rows: list[list[float] | None], column_type: pa.DataType | None = None) -> pa.Array:
    return pa.array(rows, column_type or pa.list_(pa.float32(), DIM))


def good_rows(n: int = 3) -> list[list[float]]:
    return RNG.normal(size=(n, DIM)).astype(np.float32).tolist()


# name -> (the case's vector column, rows expected in the quarantine (by position))
VECTOR_CASES: dict[str, tuple[Callable[[], pa.Array], set[int]]] = {
    "NaN": (lambda: vectors([*good_rows(), [float("nan")] * DIM]), {3}),
    "inf": (lambda: vectors([*good_rows(), [1.0] * (DIM - 1) + [float("inf")]]), {3}),
    "all zeros": (lambda: vectors([*good_rows(), [0.0] * DIM]), {3}),
    "a null vector": (lambda: vectors([*good_rows(), None]), {3}),
    "the wrong width": (lambda: vectors([*good_rows(), [1.0] * (DIM + 2)], pa.list_(pa.float32())), {3}),
    "list<double> instead of fixed_size_list<float>": (lambda: vectors(good_rows(), pa.list_(pa.float64())), set()),
}


@pytest.fixture(scope="module")
def vector_run(local_ray, tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile-vectors")
    (root / "src").mkdir()
    expected = {}
    for i, (case, (make, bad)) in enumerate(VECTOR_CASES.items()):
        column = make()
        ids = [f"v{i}-{j}" for j in range(len(column))]
        pq.write_table(pa.table({"id": ids, "embedding": column}), root / "src" / f"{i}.parquet")
        expected[case] = (ids, {ids[j] for j in bad})
    anchors = RNG.normal(size=(40, DIM)).astype(np.float32)
    pq.write_table(embedding_table([f"a{j}" for j in range(40)], anchors), root / "a_src.parquet")
    pq.write_table(
        embedding_table([f"a{j}" for j in range(40)], anchors @ RNG.normal(size=(DIM, 6)).astype(np.float32)),
        root / "a_tgt.parquet",
    )
    config = load_config(
        TranslateConfig,
        None,
        [
            f"source.path={root / 'src'}",
            "source.vector_column=embedding",
            "source.files_per_shard=1",
            f"anchors.source={root / 'a_src.parquet'}",
            f"anchors.target={root / 'a_tgt.parquet'}",
            "translator.method=procrustes",
            f"output.path={root / 'out'}",
        ],
    )
    run_translate(config, say=lambda line: None)
    table = pa.concat_tables(pq.read_table(p) for p in sorted((root / "out").glob("part-*.parquet")))
    quarantined = sorted((records_of(root / "out") / "quarantine").glob("*.parquet"))
    quarantine = pa.concat_tables(pq.read_table(p) for p in quarantined)
    return (
        expected,
        table.column("id").to_pylist(),
        dict(zip(quarantine.column("id").to_pylist(), quarantine.column("reason").to_pylist(), strict=True)),
    )


@pytest.mark.parametrize("case", VECTOR_CASES)
def test_every_hostile_vector_is_translated_or_quarantined_with_a_reason(vector_run, case, tally):
    expected, written, quarantined = vector_run
    ids, bad = expected[case]
    tally.rows(f"vectors: {case}", ids, [i for i in written if i in ids], [i for i in quarantined if i in ids])
    assert sorted(i for i in written + list(quarantined) if i in ids) == sorted(ids)  # each once
    assert {i for i in quarantined if i in ids} == bad and all(quarantined[i] for i in bad)


def embed_config(source: Path, out: Path, model: Path, fmt: str = "parquet") -> EmbedConfig:
    return load_config(
        EmbedConfig,
        None,
        [
            f"source.path={source}",
            f"source.format={fmt}",
            "source.text_column=text",
            "source.files_per_shard=1",
            "encoder.kind=hf_text",
            f"encoder.model={model}",
            f"output.path={out}",
        ],
    )


def test_null_and_repeated_ids_are_quarantined_the_first_occurrence_kept(local_ray, tmp_path, tiny_bert_dir, tally):
    (tmp_path / "src").mkdir()
    pq.write_table(pa.table({"id": ["a", None, "b", "a"], "text": ["the cat"] * 4}), tmp_path / "src" / "0.parquet")
    summary = run_embed(embed_config(tmp_path / "src", tmp_path / "out", tiny_bert_dir))
    assert (summary.rows_in, summary.rows_out, summary.rows_quarantined) == (4, 2, 2)
    quarantine = pq.read_table(records_of(tmp_path / "out") / "quarantine" / "part-00000.parquet").to_pylist()
    written = pq.read_table(tmp_path / "out" / "part-00000.parquet")
    tally.counts("a null id and an id twice in one shard", 4, written.num_rows, len(quarantine))
    assert [row["reason"] for row in quarantine] == ["null id", "duplicate id 'a' (first occurrence kept)"]


def test_an_id_repeated_across_files_and_shards_is_written_once_at_its_first_occurrence(
    local_ray, tmp_path, tiny_bert_dir, tally
):
    (tmp_path / "src").mkdir()
    pq.write_table(pa.table({"id": ["a", "b"], "text": ["the cat"] * 2}), tmp_path / "src" / "0.parquet")
    pq.write_table(pa.table({"id": ["b", "c"], "text": ["the dog"] * 2}), tmp_path / "src" / "1.parquet")
    # Two row groups, so two shards of one file: `c` repeats file 1, `d` repeats the first row group.
    pq.write_table(
        pa.table({"id": ["c", "d", "d", "e"], "text": ["the fox"] * 4}),
        tmp_path / "src" / "2.parquet",
        row_group_size=2,
    )
    summary = run_embed(embed_config(tmp_path / "src", tmp_path / "out", tiny_bert_dir))
    assert (summary.shards, summary.rows_in, summary.rows_out, summary.rows_quarantined) == (4, 8, 5, 3)
    written = pa.concat_tables(pq.read_table(p) for p in sorted((tmp_path / "out").glob("part-*.parquet")))
    assert sorted(written.column("id").to_pylist()) == ["a", "b", "c", "d", "e"]
    quarantine = pa.concat_tables(pq.read_table(p) for p in sorted(records_of(tmp_path / "out").glob("quarantine/*")))
    reasons = dict(zip(quarantine.column("id").to_pylist(), quarantine.column("reason").to_pylist(), strict=True))
    tally.counts("ids repeated across files and shards", 8, written.num_rows, quarantine.num_rows)
    assert reasons == {
        "b": "duplicate id 'b' (first occurrence kept, in part-00000)",
        "c": "duplicate id 'c' (first occurrence kept, in part-00001)",
        "d": "duplicate id 'd' (first occurrence kept, in part-00002)",
    }
    # A rerun of the finished job reads nothing again and writes every id once still.
    assert run_embed(embed_config(tmp_path / "src", tmp_path / "out", tiny_bert_dir)).shards_skipped == 4


FILE_CASES: dict[str, Callable[[Path], None]] = {
    "a corrupt Parquet footer": lambda p: p.write_bytes(p.read_bytes()[:-12] + b"garbage!PAR1"),
    "an empty file": lambda p: p.write_bytes(b""),
}


@pytest.mark.parametrize("case", FILE_CASES)
def test_an_unreadable_file_fails_its_own_shard_by_name(local_ray, tmp_path, tiny_bert_dir, case, tally):
    (tmp_path / "src").mkdir()
    for i in range(3):
        pq.write_table(
            pa.table({"id": [f"{i}-{j}" for j in range(4)], "text": ["the cat"] * 4}), tmp_path / "src" / f"{i}.parquet"
        )
    FILE_CASES[case](tmp_path / "src" / "1.parquet")
    with pytest.raises(ShardsFailed) as failed:
        run_embed(embed_config(tmp_path / "src", tmp_path / "out", tiny_bert_dir))
    [reason] = failed.value.summary.failed.values()
    assert "1.parquet" in reason
    assert not (tmp_path / "out").exists()  # nothing published; the finished shards wait staged
    written = pa.concat_tables(pq.read_table(p) for p in staged_parts(tmp_path / "out"))
    tally.rows(
        case,
        [f"{i}-{j}" for i in range(3) for j in range(4)],
        written.column("id").to_pylist(),
        [],
        failed=[f"1-{j}" for j in range(4)],
    )
    assert sorted(written.column("id").to_pylist()) == [f"{i}-{j}" for i in (0, 2) for j in range(4)]


def test_a_file_that_vanishes_after_planning_fails_its_shard_and_a_rerun_finishes(
    local_ray, tmp_path, tiny_bert_dir, monkeypatch, tally
):
    from pipeline.engine import driver

    (tmp_path / "src").mkdir()
    for i in range(3):
        pq.write_table(
            pa.table({"id": [f"{i}-{j}" for j in range(4)], "text": ["the cat"] * 4}), tmp_path / "src" / f"{i}.parquet"
        )
    planned = driver.plan_source

    def plan_then_lose_a_file(*args, **kwargs):
        shards = planned(*args, **kwargs)
        (tmp_path / "src" / "1.parquet").unlink()  # gone after planning, before any shard reads it
        return shards

    monkeypatch.setattr(driver, "plan_source", plan_then_lose_a_file)
    with pytest.raises(ShardsFailed) as failed:
        run_embed(embed_config(tmp_path / "src", tmp_path / "out", tiny_bert_dir))
    [(shard, reason)] = failed.value.summary.failed.items()
    assert shard == "part-00001" and "1.parquet" in reason
    assert not (tmp_path / "out").exists()

    # The rerun plans what is there now: file 2's rows move to part-00001, and nothing is in the table twice.
    monkeypatch.setattr(driver, "plan_source", planned)
    summary = run_embed(embed_config(tmp_path / "src", tmp_path / "out", tiny_bert_dir))
    assert (summary.shards, summary.shards_skipped, summary.rows_out) == (2, 1, 4)  # file 0's part is kept
    written = pa.concat_tables(pq.read_table(p) for p in sorted((tmp_path / "out").glob("part-*.parquet")))
    tally.rows(
        "a file that vanishes after planning",
        [f"{i}-{j}" for i in range(3) for j in range(4)],
        written.column("id").to_pylist(),
        [],
        failed=[f"1-{j}" for j in range(4)],
    )
    assert sorted(written.column("id").to_pylist()) == [f"{i}-{j}" for i in (0, 2) for j in range(4)]
    assert (tmp_path / "out" / "_SUCCESS").exists()


def test_a_source_without_matching_files_stops_with_one_line(tmp_path, capsys, tiny_bert_dir, tally):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "notes.txt").write_text("not parquet")
    config = tmp_path / "job.yaml"
    config.write_text(
        json.dumps(
            {
                "source": {"path": str(tmp_path / "src"), "text_column": "text"},
                "encoder": {"kind": "hf_text", "model": str(tiny_bert_dir)},
                "output": {"path": str(tmp_path / "out")},
            }
        )
    )
    assert embed_main(["--config", str(config)]) == 1
    err = capsys.readouterr().err
    tally.said("a source folder without matching files", err)
    assert "no parquet files found" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()
