"""The evaluate job with encoders: it embeds the labeled corpus in both spaces on a local Ray, scores every
direction, and the tables it embeds into its work_dir read back exactly with every reader."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.config import load_config
from pipeline.jobs.evaluate import EvaluateConfig, run

from tests.conftest import TINY_WORDS as WORDS
from tests.conftest import build_tiny_bert
from tests.support.readers import assert_every_reader_reads_exactly

pytestmark = [pytest.mark.timeout(600)]


def test_evaluate_embeds_both_spaces_into_tables_every_reader_reads(local_ray, tmp_path, tiny_bert_dir):
    other = build_tiny_bert(tmp_path / "other-bert", seed=3)
    rng = np.random.default_rng(0)
    ids = [f"doc{i:03d}" for i in range(120)]
    # Two classes told apart by their words, so a decoder has something to learn in both spaces.
    halves = (WORDS[: len(WORDS) // 2], WORDS[len(WORDS) // 2 :])
    labels = [i % 2 for i in range(120)]
    rows = [
        {"id": i, "text": " ".join(rng.choice(halves[label], size=6))} for i, label in zip(ids, labels, strict=True)
    ]
    (tmp_path / "corpus.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    pq.write_table(pa.table({"id": ids, "label": [str(v) for v in labels]}), tmp_path / "labels.parquet")
    config = load_config(
        EvaluateConfig,
        None,
        [
            "spaces.a.encoder.kind=hf_text",
            f"spaces.a.encoder.model={tiny_bert_dir}",
            "spaces.b.encoder.kind=hf_text",
            f"spaces.b.encoder.model={other}",
            f"corpus.path={tmp_path}/corpus.jsonl",
            "corpus.format=jsonl",
            "corpus.text_column=text",
            f"labels.path={tmp_path}/labels.parquet",
            "anchors=40",
            "test=40",
            "draws=1",
            "anchor_sweep=[40]",
            "deltas=[null]",
            "subspaces=[1]",
            "decoders=[logistic]",
            "decoupled=false",
            "translators={p: {method: procrustes}}",
            f"output={tmp_path}/report",
            f"work_dir={tmp_path}/work",
            "execution.actors=1",
        ],
    )
    lines = run(config, say=lambda line: None)
    assert lines[-1].startswith("written:")
    figures = json.loads((tmp_path / "report" / "report.json").read_text())
    assert {row["direction"] for row in figures["rows"]} == {"a → b", "b → a"}
    for space in ("a", "b"):
        assert_every_reader_reads_exactly(tmp_path / "work" / space / "corpus", ids)
