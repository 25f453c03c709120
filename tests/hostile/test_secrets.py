"""Planted credentials never show: not on the job's stdout or stderr, in Ray's own logs of the job, in the output's
parts, manifest, ``_job.json``, quarantine or any other file it writes, nor in an error message."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]

KEY, SECRET = "AKIAPLANTEDKEY7Q2X", "planted-secret-Zx81Qw"


def files_holding(root: Path, needles: tuple[str, ...]) -> list[str]:
    """Every file under ``root`` whose bytes contain one of ``needles``."""
    found = []
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path}: {needle}" for needle in needles if needle.encode() in data]
    return found


def test_planted_storage_options_appear_nowhere(tmp_path, tiny_bert_dir):
    (tmp_path / "src").mkdir()
    pq.write_table(pa.table({"id": ["a", "b", None], "text": ["the cat", "the dog", "the fox"]}),
                   tmp_path / "src" / "0.parquet")
    options = {"key": KEY, "secret": SECRET}  # a local filesystem ignores them; the job must still never show them
    config = {"source": {"path": str(tmp_path / "src"), "text_column": "text", "storage_options": options},
              "encoder": {"kind": "hf_text", "model": str(tiny_bert_dir)},
              "output": {"path": str(tmp_path / "out"), "storage_options": options}}
    (tmp_path / "job.yaml").write_text(json.dumps(config))
    started = time.time()
    ran = subprocess.run([sys.executable, "-m", "jobs.embed", "--config", str(tmp_path / "job.yaml")],
                         capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert KEY not in ran.stdout + ran.stderr and SECRET not in ran.stdout + ran.stderr
    assert (tmp_path / "out" / "_SUCCESS").exists() and (tmp_path / "out" / "_quarantine").exists()
    assert files_holding(tmp_path / "out", (KEY, SECRET)) == []
    sessions = [p for p in Path("/tmp/ray").glob("session_2*") if p.stat().st_mtime >= started - 1]
    assert sessions, "the job's own Ray session logs were not found"
    for session in sessions:
        assert files_holding(session / "logs", (KEY, SECRET)) == []

    # An error about the source names the path, never the options.
    (tmp_path / "job.yaml").write_text(json.dumps({**config, "source": {**config["source"],
                                                                        "path": str(tmp_path / "missing")}}))
    failed = subprocess.run([sys.executable, "-m", "jobs.embed", "--config", str(tmp_path / "job.yaml")],
                            capture_output=True, text=True)
    assert failed.returncode == 1 and "Traceback" not in failed.stderr
    assert KEY not in failed.stdout + failed.stderr and SECRET not in failed.stdout + failed.stderr
