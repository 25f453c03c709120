"""Planted credentials never show: not on the job's stdout or stderr, in Ray's own logs of the job, in the output's
parts, manifest, ``_job.json``, quarantine or any other file it writes, nor in an error message."""

from __future__ import annotations

import json
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import records_of
from tests.support.leaks import files_holding, ray_logs_holding, run_job, shown

pytestmark = [pytest.mark.ray, pytest.mark.timeout(300), pytest.mark.slow]

KEY, SECRET = "AKIAPLANTEDKEY7Q2X", "planted-secret-Zx81Qw"


def test_planted_storage_options_appear_nowhere(tmp_path, tiny_bert_dir, tally):
    (tmp_path / "src").mkdir()
    pq.write_table(
        pa.table({"id": ["a", "b", None], "text": ["the cat", "the dog", "the fox"]}), tmp_path / "src" / "0.parquet"
    )
    options = {"key": KEY, "secret": SECRET}  # a local filesystem ignores them; the job must still never show them
    config = {
        "source": {"path": str(tmp_path / "src"), "text_column": "text", "storage_options": options},
        "encoder": {"kind": "hf_text", "model": str(tiny_bert_dir)},
        "output": {"path": str(tmp_path / "out"), "storage_options": options},
    }
    (tmp_path / "job.yaml").write_text(json.dumps(config))
    started = time.time()
    ran = run_job("embed", tmp_path / "job.yaml")
    tally.said("secrets: a file source and a Parquet output", ran.stdout, ran.stderr)
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert shown(ran, (KEY, SECRET)) == []
    assert (tmp_path / "out" / "_SUCCESS").exists() and (records_of(tmp_path / "out") / "quarantine").exists()
    assert files_holding(tmp_path / "out", (KEY, SECRET)) == []
    assert ray_logs_holding(started, (KEY, SECRET)) == []

    # An error about the source names the path, never the options.
    (tmp_path / "job.yaml").write_text(
        json.dumps({**config, "source": {**config["source"], "path": str(tmp_path / "missing")}})
    )
    failed = run_job("embed", tmp_path / "job.yaml")
    tally.said("secrets: a failing run", failed.stdout, failed.stderr)
    assert failed.returncode == 1 and "Traceback" not in failed.stderr
    assert shown(failed, (KEY, SECRET)) == []
