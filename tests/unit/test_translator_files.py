"""The translator kept beside an output, and how a rerun tells whether its parts were made by the map fitted now."""

from __future__ import annotations

import dataclasses

import numpy as np

from pipeline.engine.outputs import redo_if_translator_changed
from pipeline.engine.translator_files import TRANSLATOR_DIR, save_translator_next_to, translator_change
from pipeline.io.sink import OutputDir
from pipeline.io.tables import embedding_table
from pipeline.translate import fit_translator


def test_only_a_map_that_moved_makes_a_rerun_redo_the_parts(tmp_path):
    rng = np.random.default_rng(0)
    source, target = rng.normal(size=(80, 12)), rng.normal(size=(80, 8))
    fitted = fit_translator(source, target, "ridge", alpha=0.1)
    out = OutputDir(str(tmp_path / "out"))
    assert translator_change(out, fitted) is None  # nothing saved yet: a new output
    save_translator_next_to(out, fitted)
    for name in ("part-00000", "part-00001"):
        out.write_part(name, embedding_table(["a"], fitted.transform(source[:1])), None, {"rows_out": 1})

    assert translator_change(out, fit_translator(source, target, "ridge", alpha=0.1)) is None  # refitted, the same
    last_bits = dataclasses.replace(fitted.plan, matrix=fitted.plan.matrix * (1 + 1e-6))
    assert translator_change(out, dataclasses.replace(fitted, plan=last_bits)) is None
    moved = dataclasses.replace(fitted.plan, matrix=fitted.plan.matrix * 1.01)
    assert translator_change(out, dataclasses.replace(fitted, plan=moved)).startswith("its matrix moved: ridge")
    assert translator_change(out, dataclasses.replace(fitted, options={"alpha": 0.1, "restore_scale": False})) is None
    other = fit_translator(source, target, "procrustes")
    assert translator_change(out, other).endswith("ridge {'alpha': 0.1, 'restore_scale': False} then, procrustes "
                                                  "{'scaling': 'isotropic'} now")

    redo_if_translator_changed(out, fitted)
    assert out.part_names() == {"part-00000", "part-00001"}
    redo_if_translator_changed(out, other)
    assert out.part_names() == set() and out.finished_shards() == {}

    (tmp_path / "out" / TRANSLATOR_DIR / "translator.safetensors").write_bytes(b"torn")
    assert translator_change(out, fitted).startswith("the saved translator cannot be read")
