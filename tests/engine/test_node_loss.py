"""A multi-node local cluster loses a worker node mid-job: the job completes and every row is written once.

The cluster (``ray.cluster_utils.Cluster``: a head and three worker nodes, all on 127.0.0.1) runs in a process of
its own, so the session's local Ray of the other integration tests is left alone. Logical resources keep it from
deadlocking on 2 cores: 8 logical CPUs in all, and one logical GPU per worker node, so two encoder actors land on
two worker nodes and the lost one restarts on the third.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.io.tables import embedding_table

from tests.conftest import TINY_WORDS as WORDS

pytestmark = [pytest.mark.ray, pytest.mark.slow, pytest.mark.timeout(600)]
REPO = Path(__file__).resolve().parents[2]

CLUSTER_JOB = textwrap.dedent("""
    import sys, threading, time
    from pathlib import Path

    import psutil
    import ray
    from ray.cluster_utils import Cluster

    from pipeline.config import load_config
    from pipeline.jobs.translate_corpus import TranslateConfig
    from pipeline.jobs.translate_corpus import run_translate

    work = Path(sys.argv[1])
    loopback = {"node_ip_address": "127.0.0.1"}
    cluster = Cluster(initialize_head=True,
                      head_node_args={"num_cpus": 2, "num_gpus": 0, "include_dashboard": False, **loopback})
    workers = [cluster.add_node(num_cpus=2, num_gpus=1, **loopback) for _ in range(3)]
    cluster.wait_for_nodes()

    def hosts_an_encoder(node) -> bool:
        raylet = psutil.Process(node.all_processes["raylet"][0].process.pid)
        return any("MapWorker" in " ".join(child.cmdline()) for child in raylet.children(recursive=True))

    def lose_a_node() -> None:
        # The output's records (finished shards among them) sit beside it, in <parent>/_irp/<name>/.
        finished, deadline = work / "_irp" / "out" / "shards", time.monotonic() + 300
        while len(list(finished.glob("part-*.json"))) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        victim = next(node for node in workers if hosts_an_encoder(node))
        done = len(list(finished.glob("part-*.json")))
        cluster.remove_node(victim)
        print(f"lost a worker node with an encoder actor after {done} shards", flush=True)

    threading.Thread(target=lose_a_node, daemon=True).start()
    config = load_config(TranslateConfig, work / "job.yaml", [f"execution.address={cluster.address}"])
    print("\\n".join(run_translate(config, say=print).lines()), flush=True)
    ray.shutdown()
    cluster.shutdown()
""")


def test_losing_a_worker_node_mid_job_loses_and_repeats_no_row(tmp_path, tiny_bert_dir):
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
    (tmp_path / "cluster_job.py").write_text(CLUSTER_JOB)
    ran = subprocess.run(
        [sys.executable, str(tmp_path / "cluster_job.py"), str(tmp_path)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=540,
    )
    assert ran.returncode == 0, (ran.stdout + ran.stderr)[-4000:]
    lost = next(line for line in ran.stdout.splitlines() if line.startswith("lost a worker node"))
    assert int(lost.split("after ")[1].split()[0]) < 24, "the node must be lost mid-job for this test to mean anything"
    assert "rows:        480 in, 480 out, 0 quarantined" in ran.stdout
    table = pa.concat_tables(pq.read_table(p) for p in sorted((tmp_path / "out").glob("part-*.parquet")))
    assert sorted(table.column("id").to_pylist()) == sorted(ids)  # every row once: none missing, none twice
