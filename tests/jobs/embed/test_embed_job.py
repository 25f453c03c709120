"""The embed job on a real local Ray: pinned actors, quarantine instead of crashes, resume and refusal."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.config import load_config
from pipeline.encoders.hf_text import HFTextEncoder, HFTextSpec
from pipeline.io.tables import read_provenance, vectors_of
from pipeline.jobs.embed import EmbedConfig, run_embed

from tests.conftest import records_of
from tests.support.readers import assert_every_reader_reads_exactly

pytestmark = [pytest.mark.timeout(300)]

GOOD = ["the cat sat on the mat", "a dog ran far away", "quick brown fox", "lazy river stone", "the dog sat"]


def write_jsonl(folder, name, rows):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("".join(json.dumps(row) + "\n" for row in rows))


def embed_config(source, output, model_dir, *overrides) -> EmbedConfig:
    return load_config(
        EmbedConfig,
        None,
        [
            f"source.path={source}",
            "source.format=jsonl",
            "source.text_column=text",
            "encoder.kind=hf_text",
            f"encoder.model={model_dir}",
            f"output.path={output}",
            *overrides,
        ],
    )


def read_output(output):
    table = pa.concat_tables(pq.read_table(p) for p in sorted(output.glob("part-*.parquet")))
    quarantine = sorted((records_of(output) / "quarantine").glob("*.parquet"))
    rejected = pa.concat_tables(pq.read_table(p) for p in quarantine).to_pylist() if quarantine else []
    return table, rejected


def test_actors_are_pinned_to_their_own_gpus(local_ray, tmp_path, tiny_bert_dir):
    for i in range(4):
        write_jsonl(tmp_path / "src", f"{i}.jsonl", [{"id": f"{i}-{j}", "text": GOOD[j % 5]} for j in range(500)])
    config = embed_config(
        tmp_path / "src", tmp_path / "out", tiny_bert_dir, "execution.actors=2", "execution.gpus_per_actor=1"
    )
    summary = run_embed(config)
    assert (summary.rows_in, summary.rows_out, summary.rows_quarantined) == (2000, 2000, 0)
    # Each actor that worked saw exactly one logical GPU, and no two actors shared one. (Which actors work is
    # Ray Data's choice: when chunks are prepared more slowly than the tiny model encodes them, one free actor
    # takes them all, so the test does not require both.) The manifest keeps the same record.
    devices = [w["cuda_visible_devices"] for w in summary.workers]
    assert devices and set(devices) <= {"0", "1"} and len(set(devices)) == len(devices)
    manifest = json.loads((tmp_path / "out" / "_manifest.json").read_text())
    assert [w["cuda_visible_devices"] for w in manifest["this_run"]["workers"]] == devices
    # Staged: reading and tokenizing, and writing, ran in CPU task processes; the actors ran the model alone.
    actors = {w["pid"] for w in summary.workers}
    assert all(w["prepare_pid"] not in actors and w["write_pid"] not in actors for w in summary.workers)


def test_broken_rows_go_to_quarantine_and_every_row_appears_once(local_ray, tmp_path, tiny_bert_dir):
    rows = [
        {"id": "a", "text": GOOD[0]},
        {"id": "b", "text": ""},
        {"id": "c", "text": None},
        {"id": None, "text": GOOD[1]},
        {"id": "a", "text": GOOD[2]},
        {"id": "d", "text": GOOD[3]},
    ]
    write_jsonl(tmp_path / "src", "x.jsonl", rows)
    summary = run_embed(embed_config(tmp_path / "src", tmp_path / "out", tiny_bert_dir))
    table, rejected = read_output(tmp_path / "out")
    assert table.column("id").to_pylist() == ["a", "d"]
    assert sorted(((r["id"], r["reason"].split(" (")[0]) for r in rejected), key=str) == sorted(
        [
            ("b", "empty or whitespace-only"),
            ("c", "not a str"),
            (None, "null id"),
            ("a", "duplicate id 'a'"),
        ],
        key=str,
    )
    assert (summary.rows_in, summary.rows_out, summary.rows_quarantined) == (6, 2, 4)
    # The vectors are the encoder's own, row for row.
    direct = HFTextEncoder(HFTextSpec(model=str(tiny_bert_dir))).encode([GOOD[0], GOOD[3]])
    np.testing.assert_allclose(vectors_of(table.column("embedding")), direct, atol=1e-5)
    assert read_provenance(table.schema)["space"] == f"hf_text/{tiny_bert_dir.name}"
    assert (tmp_path / "out" / "_SUCCESS").exists()
    assert_every_reader_reads_exactly(tmp_path / "out", ["a", "d"])  # the repeated "a" once, quarantine outside


def test_rerun_skips_finished_shards_and_a_changed_job_is_refused(local_ray, tmp_path, tiny_bert_dir):
    for i in range(3):
        write_jsonl(tmp_path / "src", f"{i}.jsonl", [{"id": f"{i}-{j}", "text": t} for j, t in enumerate(GOOD)])
    config = embed_config(tmp_path / "src", tmp_path / "out", tiny_bert_dir)
    run_embed(config)
    (records_of(tmp_path / "out") / "shards" / "part-00001.json").unlink()  # as if killed before shard 1 finished
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "out").glob("part-*.parquet")}
    again = run_embed(config)
    assert (again.shards, again.shards_skipped) == (3, 2)
    after = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "out").glob("part-*.parquet")}
    assert after["part-00000.parquet"] == before["part-00000.parquet"]
    assert after["part-00001.parquet"] != before["part-00001.parquet"]
    manifest = json.loads((tmp_path / "out" / "_manifest.json").read_text())
    assert manifest["totals"] == {"rows_in": 15, "rows_out": 15, "rows_quarantined": 0}
    assert_every_reader_reads_exactly(tmp_path / "out", [f"{i}-{j}" for i in range(3) for j in range(5)])

    changed = embed_config(tmp_path / "src", tmp_path / "out", tiny_bert_dir, "encoder.pooling=cls")
    with pytest.raises(ValueError, match="holds the output of a different job"):
        run_embed(changed)
    replaced = run_embed(
        embed_config(tmp_path / "src", tmp_path / "out", tiny_bert_dir, "encoder.pooling=cls", "output.overwrite=true")
    )
    assert replaced.shards_skipped == 0
