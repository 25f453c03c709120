"""Faults mid-job: an actor killed (working, or loading its model), an input that cannot be read, a changed
chunking. Every row lands once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.config import load_config
from pipeline.engine.summary import ShardsFailed
from pipeline.io.tables import embedding_table, vectors_of
from pipeline.jobs.embed import EmbedConfig, run_embed
from pipeline.jobs.translate_corpus import TranslateConfig, run_translate
from pipeline.translate import fit_translator

from tests.conftest import TINY_WORDS as WORDS
from tests.conftest import records_of

pytestmark = [pytest.mark.ray, pytest.mark.timeout(600)]


def vector_store(tmp_path, files: int = 3, rows: int = 40):
    """``files`` Parquet exports of ``rows`` 16-d vectors each, anchors in both spaces, and a ridge job config."""
    rng = np.random.default_rng(0)
    mapping = rng.normal(size=(16, 8)).astype(np.float32)
    vectors = rng.normal(size=(files * rows, 16)).astype(np.float32)
    ids = [f"doc{i}" for i in range(files * rows)]
    (tmp_path / "corpus").mkdir()
    for f in range(files):
        part = slice(f * rows, (f + 1) * rows)
        pq.write_table(embedding_table(ids[part], vectors[part]), tmp_path / "corpus" / f"export-{f}.parquet")
    pq.write_table(embedding_table(ids[:50], vectors[:50]), tmp_path / "a_old.parquet")
    pq.write_table(embedding_table(ids[:50], vectors[:50] @ mapping), tmp_path / "a_new.parquet")
    (tmp_path / "job.yaml").write_text(
        f"source: {{path: {tmp_path}/corpus, vector_column: embedding}}\n"
        f"anchors: {{source: {tmp_path}/a_old.parquet, target: {tmp_path}/a_new.parquet}}\n"
        f"translator: {{method: ridge, alpha: 0.01}}\noutput: {{path: {tmp_path}/out}}\n"
    )
    expected = fit_translator(vectors[:50], vectors[:50] @ mapping, "ridge", alpha=0.01).transform(vectors)
    return ids, expected


def read_output(out) -> pa.Table:
    return pa.concat_tables(pq.read_table(p) for p in sorted(out.glob("part-*.parquet")))


def test_an_unreadable_input_fails_its_shard_alone_and_a_rerun_does_only_it(local_ray, tmp_path):
    ids, expected = vector_store(tmp_path)
    export = tmp_path / "corpus" / "export-1.parquet"
    good_bytes = export.read_bytes()
    export.write_bytes(good_bytes[: len(good_bytes) // 2])  # truncated mid-upload
    config = load_config(TranslateConfig, tmp_path / "job.yaml")
    with pytest.raises(ShardsFailed, match="part-00001") as failed:
        run_translate(config, say=lambda line: None)
    out = tmp_path / "out"
    # Nothing is published while a shard is missing: the job's manifest is in its records, the table not there.
    assert not out.exists()
    manifest = json.loads((records_of(out) / "manifest.json").read_text())
    assert list(manifest["failed"]) == ["part-00001"] and "export-1.parquet" in manifest["failed"]["part-00001"]
    assert sorted(manifest["shards"]) == ["part-00000", "part-00002"]  # the others finished
    assert failed.value.summary.rows_out == 80 and not (out / "_SUCCESS").exists()

    export.write_bytes(good_bytes)  # fixed
    summary = run_translate(config, say=lambda line: None)
    assert (summary.shards, summary.shards_skipped, summary.rows_in) == (3, 2, 40)  # only the failed shard
    assert (out / "_SUCCESS").exists() and json.loads((records_of(out) / "manifest.json").read_text())["failed"] == {}
    table = read_output(out)
    assert table.column("id").to_pylist() == ids
    np.testing.assert_allclose(vectors_of(table.column("embedding")), expected, rtol=1e-5, atol=1e-5)

    export.write_bytes(good_bytes[:100])  # broken again: readers keep the version published before, whole
    with pytest.raises(ShardsFailed):
        run_translate(config, say=lambda line: None)
    assert (out / "_SUCCESS").exists() and read_output(out).column("id").to_pylist() == ids
    assert list(json.loads((records_of(out) / "manifest.json").read_text())["failed"]) == ["part-00001"]


def test_the_job_exits_non_zero_naming_the_failed_shard(tmp_path):
    vector_store(tmp_path, files=2)
    (tmp_path / "corpus" / "export-1.parquet").write_bytes(b"PAR1 not parquet at all PAR1")
    ran = subprocess.run(
        [sys.executable, "-m", "jobs.translate_corpus", "--config", str(tmp_path / "job.yaml"), "execution.num_cpus=4"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ran.returncode == 1
    assert "FAILED:      part-00001" in ran.stdout and "1 shard(s) failed: part-00001" in ran.stderr


def test_a_changed_chunk_budget_redoes_only_what_it_renames_and_never_duplicates(local_ray, tmp_path):
    ids, expected = vector_store(tmp_path, files=1, rows=100)
    base = load_config(TranslateConfig, tmp_path / "job.yaml", ["execution.chunk_rows=20"])
    assert run_translate(base, say=lambda line: None).shards == 5
    coarser = load_config(TranslateConfig, tmp_path / "job.yaml", ["execution.chunk_rows=50"])
    summary = run_translate(coarser, say=lambda line: None)
    assert (summary.shards, summary.shards_skipped) == (2, 0)  # both new parts cover other rows than before
    table = read_output(tmp_path / "out")
    assert table.column("id").to_pylist() == ids  # the three parts the new plan lacks are gone
    np.testing.assert_allclose(vectors_of(table.column("embedding")), expected, rtol=1e-5, atol=1e-5)


def encoder_actor_pids(session: int) -> list[int]:
    """Processes of the job's session that run an encoding actor (Ray titles them after the map stage)."""
    listing = subprocess.run(["ps", "-eo", "pid=,sid=,args="], capture_output=True, text=True, check=True).stdout
    return [
        int(line.split()[0]) for line in listing.splitlines() if int(line.split()[1]) == session and "MapWorker" in line
    ]


@pytest.mark.slow
def test_an_encoding_actor_killed_mid_job_loses_and_repeats_no_row(tmp_path, tiny_bert_dir):
    rng = np.random.default_rng(0)
    ids = []
    corpus = tmp_path / "corpus"  # the output must not sit inside its source
    corpus.mkdir()
    for shard in range(24):
        rows = [{"id": shard * 100 + i, "text": " ".join(rng.choice(WORDS, size=6))} for i in range(20)]
        ids += [row["id"] for row in rows]
        (corpus / f"corpus-{shard:02d}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    anchors = rng.normal(size=(40, 32)).astype(np.float32)
    pq.write_table(embedding_table(list(range(40)), anchors), tmp_path / "a_src.parquet")
    pq.write_table(embedding_table(list(range(40)), anchors[:, :8]), tmp_path / "a_tgt.parquet")
    (tmp_path / "job.yaml").write_text(
        f"source: {{path: {corpus}, format: jsonl, text_column: text}}\n"
        f"encoder: {{kind: hf_text, model: {tiny_bert_dir}}}\n"
        f"anchors: {{source: {tmp_path}/a_src.parquet, target: {tmp_path}/a_tgt.parquet}}\n"
        f"translator: {{method: ridge}}\noutput: {{path: {tmp_path}/out}}\nexecution: {{actors: 2}}\n"
    )
    job = subprocess.Popen(
        [sys.executable, "-m", "jobs.translate_corpus", "--config", str(tmp_path / "job.yaml")],
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    finished = records_of(tmp_path / "out") / "shards"
    deadline, actors = time.monotonic() + 300, []
    while job.poll() is None and time.monotonic() < deadline:
        actors = encoder_actor_pids(job.pid)
        if len(actors) == 2 and len(list(finished.glob("part-*.json"))) >= 3:
            break
        time.sleep(0.05)
    assert len(actors) == 2 and job.poll() is None, "the actors must be killed mid-job for this test to mean anything"
    os.kill(actors[0], signal.SIGKILL)
    killed_at = len(list(finished.glob("part-*.json")))
    stdout, stderr = job.communicate(timeout=400)
    assert job.returncode == 0, (stdout + stderr)[-4000:]
    assert killed_at < 24
    table = read_output(tmp_path / "out").sort_by("id")
    assert table.column("id").to_pylist() == sorted(ids)  # every row once: none missing, none twice
    assert "rows:        480 in, 480 out, 0 quarantined" in stdout


CRASH_ONCE = """
import os
import signal
from pathlib import Path

from transformers import BertModel

MARKER = Path({marker!r})
if not MARKER.exists():  # the first actor to load this model dies on the spot, as if killed for memory
    MARKER.write_text("crashed")
    os.kill(os.getpid(), signal.SIGKILL)


class CrashOnceModel(BertModel):
    pass
"""


def test_an_actor_that_dies_loading_its_model_is_replaced_and_the_job_completes(local_ray, tmp_path, tiny_bert_dir):
    # A real model directory whose code (trust_remote_code) kills the first process that loads it.
    model = tmp_path / "crash-once-bert"
    model.mkdir()
    for path in tiny_bert_dir.iterdir():
        (model / path.name).write_bytes(path.read_bytes())
    marker = tmp_path / "crashed"
    (model / "crash_once.py").write_text(CRASH_ONCE.format(marker=str(marker)))
    config = json.loads((model / "config.json").read_text())
    (model / "config.json").write_text(json.dumps({**config, "auto_map": {"AutoModel": "crash_once.CrashOnceModel"}}))
    rows = [{"id": i, "text": " ".join(WORDS[i % len(WORDS) :][:5])} for i in range(30)]
    (tmp_path / "texts.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = load_config(
        EmbedConfig,
        None,
        [
            f"source.path={tmp_path}/texts.jsonl",
            "source.format=jsonl",
            "source.text_column=text",
            "encoder.kind=hf_text",
            f"encoder.model={model}",
            "encoder.trust_remote_code=true",
            f"output.path={tmp_path}/out",
        ],
    )
    summary = run_embed(config)
    assert marker.read_text() == "crashed"  # an actor did die in __init__
    assert (summary.rows_in, summary.rows_out) == (30, 30)
    assert read_output(tmp_path / "out").column("id").to_pylist() == list(range(30))
