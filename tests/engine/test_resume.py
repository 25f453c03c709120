"""A translate job killed mid-run and rerun equals an uninterrupted run: every row once, nothing missing."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.io.tables import embedding_table, vectors_of

from tests.conftest import records_of
from tests.support.killing import kill_after_shards
from tests.support.readers import assert_every_reader_reads_exactly

pytestmark = [pytest.mark.ray, pytest.mark.slow, pytest.mark.timeout(600)]
WORDS = "the a cat dog sat on mat and ran far away quick brown fox jumps over lazy river stone".split()


def job(tmp_path, model_dir, output: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "jobs.translate_corpus",
        "--config",
        str(tmp_path / "job.yaml"),
        f"output.path={tmp_path / output}",
        f"encoder.model={model_dir}",
    ]


def read(output) -> pa.Table:
    return pa.concat_tables(pq.read_table(p) for p in sorted(output.glob("part-*.parquet"))).sort_by("id")


def test_killed_job_resumes_to_the_same_table(tmp_path, tiny_bert_dir):
    rng = np.random.default_rng(0)
    corpus = tmp_path / "corpus"  # the output must not sit inside its source
    corpus.mkdir()
    for shard in range(30):
        rows = [{"id": shard * 100 + i, "text": " ".join(rng.choice(WORDS, size=6))} for i in range(20)]
        (corpus / f"corpus-{shard:02d}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    anchors = rng.normal(size=(40, 32)).astype(np.float32)
    pq.write_table(embedding_table(list(range(40)), anchors), tmp_path / "a_src.parquet")
    pq.write_table(
        embedding_table(list(range(40)), anchors @ rng.normal(size=(32, 8)).astype(np.float32)),
        tmp_path / "a_tgt.parquet",
    )
    (tmp_path / "job.yaml").write_text(
        f"source: {{path: {corpus}, format: jsonl, text_column: text}}\n"
        "encoder: {kind: hf_text, model: placeholder}\n"
        f"anchors: {{source: {tmp_path}/a_src.parquet, target: {tmp_path}/a_tgt.parquet}}\n"
        "translator: {method: ridge}\n"
        "execution: {actors: 1}\n"
    )
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    whole = subprocess.run(job(tmp_path, tiny_bert_dir, "whole"), env=env, capture_output=True, text=True)
    assert whole.returncode == 0, whole.stderr[-3000:]

    # Kill the driver and the local Ray it started once a few shards are written.
    finished_before = kill_after_shards(
        job(tmp_path, tiny_bert_dir, "resumed"), records_of(tmp_path / "resumed") / "shards", env=env
    )
    assert 3 <= finished_before < 30, "the job must be killed part-way for this test to mean anything"
    assert not (tmp_path / "resumed" / "_SUCCESS").exists()

    again = subprocess.run(job(tmp_path, tiny_bert_dir, "resumed"), env=env, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"shards:      30 ({finished_before} already done, skipped)" in again.stdout
    resumed, expected = read(tmp_path / "resumed"), read(tmp_path / "whole")
    assert (
        resumed.column("id").to_pylist()
        == expected.column("id").to_pylist()
        == sorted(s * 100 + i for s in range(30) for i in range(20))
    )
    np.testing.assert_array_equal(vectors_of(resumed.column("embedding")), vectors_of(expected.column("embedding")))
    assert_every_reader_reads_exactly(tmp_path / "resumed", [s * 100 + i for s in range(30) for i in range(20)])
