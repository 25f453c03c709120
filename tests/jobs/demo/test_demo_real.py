"""`make demo`'s job, smaller: the real LanceDB migration MiniLM-L6 -> mpnet through embed and translate_corpus."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.support.readers import assert_every_reader_reads_exactly

pytestmark = [pytest.mark.ray, pytest.mark.real, pytest.mark.slow, pytest.mark.timeout(900)]
CONFIG = Path(__file__).resolve().parents[3] / "configs" / "demo.yaml"


def run_demo(output: Path) -> subprocess.CompletedProcess:
    # Fewer anchors and test articles and shorter mpnet inputs than `make demo`, to keep the suite quick;
    # the MiniLM store of the whole corpus is the same.
    command = [
        sys.executable,
        "-m",
        "jobs.demo",
        "--config",
        str(CONFIG),
        f"output={output}",
        "anchors=150",
        "test=260",
        "target_max_length=64",
    ]
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=840, check=False)


def test_demo_migrates_the_bbc_store_and_scores_it(tmp_path):
    first = run_demo(tmp_path / "demo")
    assert first.returncode == 0, first.stderr[-4000:]
    ratio = float(re.search(r"on translated vectors [0-9.]+ -> ratio ([0-9.]+)", first.stdout).group(1))
    top10 = float(re.search(r"top-10 ([0-9.]+)", first.stdout).group(1))
    assert ratio >= 0.9 and top10 >= 0.9, first.stdout  # a broken translation scores near chance (0.2)
    recall = re.search(r"migrated table ([0-9.]+), native table ([0-9.]+) -> ratio ([0-9.]+)", first.stdout)
    assert float(recall.group(1)) >= 0.9 and float(recall.group(3)) >= 0.9, first.stdout
    records = tmp_path / "demo" / "lancedb" / "_irp"
    for table in ("bbc_old", "bbc_migrated", "bbc_native_heldout"):  # each store table published, its run whole
        manifest = json.loads((records / table / "manifest.json").read_text())
        assert manifest["failed"] == {} and manifest["published"]["published"], table
    assert (records / "bbc_migrated" / "anchors" / "target" / "_SUCCESS").exists()
    titles = tmp_path / "demo" / "heldout_titles_target"
    assert (titles / "_SUCCESS").exists()
    ids = pa.concat_tables(pq.read_table(p) for p in sorted(titles.glob("part-*.parquet"))).column("id").to_pylist()
    assert len(ids) == 260 and not list((tmp_path / "demo").rglob("*repeats*"))  # scratch gone with its run
    assert_every_reader_reads_exactly(titles, ids)
    assert "the job embeds the 150 anchor articles" in first.stdout

    import lancedb

    database = lancedb.connect(str(tmp_path / "demo" / "lancedb"))
    assert sorted(database.list_tables().tables) == ["bbc_migrated", "bbc_native_heldout", "bbc_old"]
    [index] = database.open_table("bbc_migrated").list_indices()
    assert index.index_type == "IvfPq"  # published with its index

    again = run_demo(tmp_path / "demo")  # unchanged inputs: every job resumes with nothing left to do
    assert again.returncode == 0, again.stderr[-4000:]
    assert again.stdout.count("shards already done)") == 4
    assert re.findall(r"(\d+) of (\d+) shards already done", again.stdout) == [("35", "35")] * 2 + [("5", "5")] * 2
    assert again.stdout.splitlines()[-8:] == first.stdout.splitlines()[-8:]
