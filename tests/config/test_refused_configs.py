"""Configs that must be refused before anything starts: exit code 2, one readable message naming the key, no
traceback, no Ray, nothing written. Table-driven: each case is a job, its YAML and the key the message names."""

from __future__ import annotations

import importlib

import pytest

# (job, YAML, key the message must name). {src} and {out} are folders of the test.
CASES = {
    "embed: output equals the source": (
        "embed",
        "source: {path: '{src}', text_column: text}\nencoder: {kind: hf_text, model: m}\noutput: {path: '{src}'}\n",
        "output.path",
    ),
    "embed: output inside the source": (
        "embed",
        "source: {path: '{src}', text_column: text}\nencoder: {kind: hf_text, model: m}\n"
        "output: {path: '{src}/embedded'}\n",
        "output.path",
    ),
    "embed: output contains the source": (
        "embed",
        "source: {path: '{src}', text_column: text}\nencoder: {kind: hf_text, model: m}\noutput: {path: '{src}/..'}\n",
        "output.path",
    ),
    "embed: a file:// output inside a bare source path": (
        "embed",
        "source: {path: '{src}', text_column: text}\nencoder: {kind: hf_text, model: m}\n"
        "output: {path: 'file://{src}/x'}\n",
        "output.path",
    ),
    "translate: one target written into the source": (
        "translate_corpus",
        "source: {path: '{src}', vector_column: embedding}\n"
        "targets: {a: {anchors: {target: '{out}/a.parquet'}, output: {path: '{out}/a'}},\n"
        "          b: {anchors: {target: '{out}/b.parquet'}, output: {path: '{src}/b'}}}\n",
        "targets.b.output.path",
    ),
    "translate: the output is the source table": (
        "translate_corpus",
        "source: {format: lancedb, path: '{out}/db', table: docs, vector_column: embedding}\n"
        "anchors: {target: '{out}/a.parquet'}\n"
        "output: {format: lancedb, path: '{out}/db', table: docs}\n",
        "output: the output is",
    ),
    "sync: a Delta store inside tonight's export": (
        "sync",
        "source: {path: '{src}', text_column: text}\nencoder: {kind: hf_text, model: m}\n"
        "store: {format: delta, path: '{src}/store'}\n",
        "store.path",
    ),
    "a pkg:// source that climbs out of its package": (
        "embed",
        "source: {path: 'pkg://pipeline/../../etc', text_column: text}\n"
        "encoder: {kind: hf_text, model: m}\noutput: {path: '{out}/e'}\n",
        "source.path",
    ),
    "a pkg:// anchor table that climbs out of its package": (
        "translate_corpus",
        "source: {path: '{src}', vector_column: embedding}\n"
        "anchors: {target: 'pkg://pipeline/../secrets.parquet'}\noutput: {path: '{out}/t'}\n",
        "anchors.target",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_a_config_that_would_harm_its_inputs_is_refused_before_anything_starts(
    case, tmp_path, monkeypatch, capsys, tally
):
    job, text, key = CASES[case]
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    (tmp_path / "job.yaml").write_text(text.replace("{src}", str(src)).replace("{out}", str(out)))
    before = sorted(tmp_path.rglob("*"))

    def no_ray(*args, **kwargs):
        raise AssertionError("Ray was started for a config that should have been refused")

    monkeypatch.setattr("pipeline.engine.ray_pool.connect", no_ray)
    code = importlib.import_module(f"pipeline.jobs.{job}").main(["--config", str(tmp_path / "job.yaml")])
    err = capsys.readouterr().err
    tally.said(case, err)
    assert code == 2, err
    assert key in err and "Traceback" not in err
    assert sorted(tmp_path.rglob("*")) == before  # nothing written
