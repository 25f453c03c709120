"""`ray job submit` against a real Ray head on 127.0.0.1, the way a user runs translate_corpus on a cluster."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.io.tables import embedding_table, read_provenance, vectors_of
from pipeline.translate import load_translator

from tests.conftest import records_of

pytestmark = [pytest.mark.ray, pytest.mark.slow, pytest.mark.timeout(600)]

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ray_cli(*args: str, env: dict[str, str], timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "ray"), *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout)


def stop_head(temp_dir: str) -> None:
    """Kill this head's processes and their children only; `ray stop` would kill every Ray on the machine."""
    import psutil

    roots = [p for p in psutil.process_iter(["cmdline"]) if temp_dir in " ".join(p.info["cmdline"] or [])]
    victims = {process for root in roots for process in [root, *root.children(recursive=True)]}
    for process in victims:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    psutil.wait_procs(list(victims), timeout=60)


def submit_when_the_agent_is_up(address: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """``ray job submit``, retried (bounded) while the head's job agent is still starting.

    On a loaded machine the head answers before its agent does, and a submit then fails with "No available
    agent to submit job" without starting anything. Seen to take over a minute while another Ray (the integration
    tests' session) still runs on the same two cores, hence up to three minutes.
    """
    for _ in range(36):
        submitted = ray_cli("job", "submit", "--address", address, *args, env=env)
        if "No available agent to submit job" not in submitted.stderr:
            return submitted
        time.sleep(5)
    return submitted


@pytest.fixture(scope="module")
def ray_head():
    """A Ray head on loopback only, with this virtualenv's python first on its PATH (as on a real cluster)."""
    # Ray 2.60's `ray start` with token auth needs a token and, unlike ray.init, never makes one: on a fresh
    # machine ~/.ray/auth_token does not exist yet. The head and every client get this test's own token instead.
    env = {
        **os.environ,
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN": secrets.token_hex(32),
    }
    dashboard, gcs_port = free_port(), free_port()
    # A short, unique temp dir: Ray's socket paths must stay short, and it tells our processes from others'.
    temp_dir = tempfile.mkdtemp(prefix="irp-e2e-", dir="/tmp")
    try:
        started = ray_cli(
            "start",
            "--head",
            "--node-ip-address=127.0.0.1",
            f"--port={gcs_port}",
            "--dashboard-host=127.0.0.1",
            f"--dashboard-port={dashboard}",
            # Its agent's own port too: the agent's default (52365) is taken whenever another Ray runs here, the
            # session's local_ray among them, and a head whose agent cannot bind never takes a job.
            f"--dashboard-agent-listen-port={free_port()}",
            "--num-cpus=4",
            f"--temp-dir={temp_dir}",
            "--disable-usage-stats",
            env=env,
            timeout=120,
        )
        assert started.returncode == 0, started.stderr[-3000:]
        yield f"http://127.0.0.1:{dashboard}", env, f"127.0.0.1:{gcs_port}"
    finally:
        stop_head(temp_dir)
        shutil.rmtree(temp_dir, ignore_errors=True)


def vector_job(tmp_path, rows: int = 300, execution: str = "{address: auto, actors: 2}") -> tuple[list, np.ndarray]:
    """A vector-store export, its anchors in both spaces and a job config; returns the ids and old vectors."""
    rng = np.random.default_rng(0)
    latent = rng.normal(size=(rows, 12))
    old = (latent @ rng.normal(size=(12, 16)) + 1.0).astype(np.float32)
    new = (latent @ rng.normal(size=(12, 24))).astype(np.float32)
    ids = [f"d{i}" for i in range(rows)]
    pq.write_table(embedding_table(ids, old), tmp_path / "corpus.parquet", row_group_size=100)
    pq.write_table(embedding_table(ids[:80], old[:80]), tmp_path / "anchors_old.parquet")
    pq.write_table(embedding_table(ids[:80], new[:80]), tmp_path / "anchors_new.parquet")
    (tmp_path / "job.yaml").write_text(
        f"source: {{path: {tmp_path}/corpus.parquet, format: parquet, id_column: id, vector_column: embedding}}\n"
        f"anchors: {{source: {tmp_path}/anchors_old.parquet, target: {tmp_path}/anchors_new.parquet}}\n"
        "translator: {method: auto}\n"
        f"output: {{path: {tmp_path}/out}}\n"
        f"execution: {execution}\n"
    )
    return ids, old


def test_translate_corpus_submitted_as_a_ray_job(ray_head, tmp_path):
    address, env, _ = ray_head
    ids, old = vector_job(tmp_path)
    submitted = submit_when_the_agent_is_up(
        address,
        env,
        "--working-dir",
        ".",
        "--runtime-env-json",
        '{"excludes": [".venv", ".cache", ".git", "out", "*.egg-info"]}',
        "--",
        "python",
        "-m",
        "jobs.translate_corpus",
        "--config",
        str(tmp_path / "job.yaml"),
    )
    assert submitted.returncode == 0, (submitted.stdout + submitted.stderr)[-4000:]
    assert "rows:        300 in, 300 out, 0 quarantined" in submitted.stdout

    out = tmp_path / "out"
    assert (out / "_SUCCESS").exists()
    table = pa.concat_tables(pq.read_table(p) for p in sorted(out.glob("part-*.parquet")))
    assert table.column("id").to_pylist() == ids
    translator = load_translator(records_of(out) / "translator")
    np.testing.assert_allclose(vectors_of(table.column("embedding")), translator.transform(old), atol=1e-5)
    assert read_provenance(table.schema)["method"] == translator.method


@pytest.fixture
def stale_address_file():
    """Ray's ``ray_current_cluster`` file, as a `ray start` on this machine leaves it; restored afterwards."""
    from ray._common.utils import get_ray_address_file

    path = Path(get_ray_address_file(None))
    before = path.read_text() if path.exists() else None
    path.parent.mkdir(parents=True, exist_ok=True)
    yield path
    if before is None:
        path.unlink(missing_ok=True)
    else:
        path.write_text(before)


def test_a_job_without_an_address_starts_its_own_ray_whatever_else_runs(ray_head, stale_address_file, tmp_path):
    """Another Ray runs here, and Ray's address file names it, then names one that has stopped: the job must
    neither join them nor fail ("num_cpus and num_gpus must not be provided"); it starts its own on loopback."""
    _, env, head_address = ray_head
    vector_job(tmp_path, execution="{actors: 1}")
    job = [sys.executable, "-m", "jobs.translate_corpus", "--config", str(tmp_path / "job.yaml")]
    for run, address in enumerate((head_address, f"127.0.0.1:{free_port()}")):  # the running head, then a dead one
        stale_address_file.write_text(address)
        ran = subprocess.run(
            [*job, f"output.path={tmp_path / f'out-{run}'}"],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert ran.returncode == 0, (ran.stdout + ran.stderr)[-4000:]
        assert "rows:        300 in, 300 out, 0 quarantined" in ran.stdout
        assert "joined" not in ran.stdout + ran.stderr
        assert "Started a local Ray instance" in ran.stderr
