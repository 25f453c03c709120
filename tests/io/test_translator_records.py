"""The translator kept in an output's records, and how a rerun tells whether its parts were made by the map fitted
now."""

from __future__ import annotations

import dataclasses

import numpy as np

from pipeline.config import OutputConfig
from pipeline.io.output import Output
from pipeline.io.records import TRANSLATOR_DIR
from pipeline.io.shard import Shard
from pipeline.io.tables import embedding_table
from pipeline.io.translator_records import keep_translator, translator_change
from pipeline.translate import fit_translator

from tests.conftest import records_of


def test_only_a_map_that_moved_makes_a_rerun_redo_the_parts(tmp_path):
    rng = np.random.default_rng(0)
    source, target = rng.normal(size=(80, 12)), rng.normal(size=(80, 8))
    fitted = fit_translator(source, target, "ridge", alpha=0.1)
    out = Output.of(OutputConfig(str(tmp_path / "out")), {"job_fingerprint": "f" * 64}, translator=fitted)
    records = out.records
    assert translator_change(records, fitted) is None  # nothing saved yet: a new output
    keep_translator(records, fitted)
    shards = [Shard(i, (f"file-{i}",)) for i in range(2)]
    for shard in shards:
        out.stage(
            shard.name, embedding_table(["a"], fitted.transform(source[:1])), None, {"rows_out": 1, "shard": shard.key}
        )

    assert translator_change(records, fit_translator(source, target, "ridge", alpha=0.1)) is None  # the same map
    last_bits = dataclasses.replace(fitted.plan, matrix=fitted.plan.matrix * (1 + 1e-6))
    assert translator_change(records, dataclasses.replace(fitted, plan=last_bits)) is None
    moved = dataclasses.replace(fitted.plan, matrix=fitted.plan.matrix * 1.01)
    assert translator_change(records, dataclasses.replace(fitted, plan=moved)).startswith("its matrix moved: ridge")
    assert (
        translator_change(records, dataclasses.replace(fitted, options={"alpha": 0.1, "restore_scale": False})) is None
    )
    other = fit_translator(source, target, "procrustes")
    assert translator_change(records, other).endswith(
        "ridge {'alpha': 0.1, 'restore_scale': False} then, procrustes {'scaling': 'isotropic'} now"
    )

    assert out.resume(shards) == {"part-00000", "part-00001"}  # the same map: both parts kept
    assert dataclasses.replace(out, translator=other).resume(shards) == set()  # another map: both redone
    assert out.finished() == {}

    (records_of(tmp_path / "out") / TRANSLATOR_DIR / "translator.safetensors").write_bytes(b"torn")
    assert translator_change(records, fitted).startswith("the saved translator cannot be read")
