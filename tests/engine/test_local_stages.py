"""The engine's stages without Ray (prepare processes, the model here, a writer thread) write every row once,
the same tables as one process doing all three, and carry an unreadable chunk through as failed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.config import OutputConfig, SourceConfig
from pipeline.encoders import EncoderConfig
from pipeline.engine.job import ShardJob
from pipeline.engine.local import LocalStages
from pipeline.engine.worker import ShardWorker
from pipeline.io.output import Output
from pipeline.io.sources import plan_shards
from pipeline.io.tables import vectors_of

from tests.conftest import records_of


def _vector_job(source: Path, out: Path) -> ShardJob:
    return ShardJob(
        SourceConfig(path=str(source), format="jsonl", vector_column="vector"),
        (Output.of(OutputConfig(str(out)), {"space": "test", "job_fingerprint": "test"}),),
        EncoderConfig("precomputed", {"dim": 3}),
    )


def _read(out: Path) -> pa.Table:
    """The parts the stages staged (without a driver, nothing publishes them)."""
    staging = records_of(out) / "staging" / "test"
    return pa.concat_tables(pq.read_table(p) for p in sorted(staging.glob("part-*.parquet")))


def test_local_stages_write_every_row_once_like_one_process(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((60, 3)).astype(np.float32)
    source = tmp_path / "src"
    source.mkdir()
    for f in range(6):
        rows = [{"id": f * 10 + i, "vector": vectors[f * 10 + i].tolist()} for i in range(10)]
        rows[3]["vector"] = [1.0, float("nan"), 2.0] if f == 2 else rows[3]["vector"]  # one bad row, quarantined
        (source / f"{f}.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    (source / "9.jsonl").write_text('{"id": 99, "vector": [1, 2')  # cut short: that chunk fails, alone
    shards = plan_shards(str(source), "jsonl")

    with LocalStages(_vector_job(source, tmp_path / "staged"), prepare_processes=2) as stages:
        results = list(stages.run(shards))
    worker = ShardWorker(_vector_job(source, tmp_path / "one_process"))
    alone = [worker(shard) for shard in shards]

    assert [r.shard for r in results] == [s.name for s in shards]  # plan order
    assert [r.failed is not None for r in results] == [False] * 6 + [True]
    assert sum(r.rows_out for r in results) == 59 and sum(r.rows_quarantined for r in results) == 1
    staged, reference = _read(tmp_path / "staged"), _read(tmp_path / "one_process")
    assert staged.equals(reference)
    ids = staged.column("id").to_pylist()
    assert sorted(ids) == [i for i in range(60) if i != 23] and len(set(ids)) == 59
    np.testing.assert_array_equal(vectors_of(staged.column("embedding")), vectors[ids])
    assert [r.rows_out for r in results] == [r.rows_out for r in alone]
    # Preparation ran in other processes; the model and the writer in this one.
    assert {r.worker["prepare_pid"] for r in results[:6]}.isdisjoint({r.worker["pid"] for r in results[:6]})
