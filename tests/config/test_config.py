"""Strict job configs: YAML + dotted overrides, every problem reported at once; every file in configs/ loads."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from pipeline.config import ConfigError, load_config
from pipeline.io.stores.layout import output_store, records_of
from pipeline.jobs.demo import DemoConfig
from pipeline.jobs.embed import EmbedConfig
from pipeline.jobs.evaluate import EvaluateConfig
from pipeline.jobs.sync import SyncConfig
from pipeline.jobs.translate_corpus import TranslateConfig
from pipeline.provenance import config_snapshot
from pipeline.translate.config import TranslatorConfig

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
# Which job reads each file in configs/. A file missing here fails the test below: every config is loaded.
SCHEMAS = {
    "demo.yaml": DemoConfig,
    "embed_bbc_minilm.yaml": EmbedConfig,
    "embed_bbc_mpnet.yaml": EmbedConfig,
    "embed_images.yaml": EmbedConfig,
    "translate_vector_store.yaml": TranslateConfig,
    "translate_raw_two_targets.yaml": TranslateConfig,
    "cluster_translate_vector_store.yaml": TranslateConfig,
    "migrate_lancedb_store.yaml": TranslateConfig,
    "migrate_to_pgvector.yaml": TranslateConfig,
    "sync_nightly.yaml": SyncConfig,
    "evaluate_bbc.yaml": EvaluateConfig,
}


@dataclass(frozen=True)
class Inner:
    size: int
    mode: Literal["fast", "exact"] = "fast"


@dataclass(frozen=True)
class Outer:
    inner: Inner
    name: str = "x"
    ratio: float = 0.5
    limit: int | None = None
    tags: tuple[str, ...] = ()
    translator: TranslatorConfig = field(default_factory=TranslatorConfig)


@pytest.mark.parametrize("name", sorted(p.name for p in CONFIGS.iterdir()))
def test_every_shipped_config_loads(name):
    assert name in SCHEMAS, f"configs/{name} is not loaded by any test; add it to SCHEMAS"
    assert load_config(SCHEMAS[name], CONFIGS / name) is not None


def test_yaml_and_overrides_build_typed_frozen_values(tmp_path):
    path = tmp_path / "job.yaml"
    path.write_text("inner: {size: 3}\nratio: 1\ntags: [a, b]\ntranslator: {method: irp, delta: 0.6}\n")
    config = load_config(Outer, path, ["inner.mode=exact", "limit=10", "translator.subspaces=4"])
    assert config == Outer(
        Inner(3, "exact"),
        ratio=1.0,
        limit=10,
        tags=("a", "b"),
        translator=TranslatorConfig("irp", {"delta": 0.6, "subspaces": 4}),
    )
    assert isinstance(config.ratio, float)
    with pytest.raises(AttributeError):
        config.name = "y"  # frozen


def test_every_problem_is_reported_at_once(tmp_path):
    path = tmp_path / "job.yaml"
    path.write_text("inner: {mode: slow}\nnmae: y\nratio: yes\ntags: 3\ntranslator: {method: ridge, alpah: 1}\n")
    with pytest.raises(ConfigError) as error:
        load_config(Outer, path, ["limit=many", "broken"])
    assert sorted(error.value.problems) == sorted(
        [
            "(override 'broken'): must look like key.sub=value",
            "nmae: unknown key (did you mean 'name'?)",
            "inner.size: required",
            "inner.mode: must be one of ['fast', 'exact'], got 'slow'",
            "ratio: must be float, got True",
            "limit: must be int or NoneType, got 'many'",
            "tags: must be a list, got int",
            "translator.alpah: unknown key (did you mean 'alpha'?)",
        ]
    )


def test_unreadable_or_non_mapping_yaml(tmp_path):
    with pytest.raises(ConfigError, match="cannot read YAML"):
        load_config(Outer, tmp_path / "missing.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match=r"\(top level\): must be a mapping"):
        load_config(Outer, tmp_path / "list.yaml")


def test_demo_config_checks_values():
    with pytest.raises(ConfigError) as error:
        load_config(DemoConfig, None, ["anchors=2", "source_model=bert-base", "translator.method=pinv"])
    text = str(error.value)
    assert "anchors: must be >= 3" in text
    assert "source_model: 'bert-base' is not a packaged model" in text
    assert "translator: unknown translation method 'pinv'" in text


def test_embed_config_checks_encoder_options_without_loading_a_model():
    base = ["source.path=x", "output.path=o", "encoder.kind=hf_text"]
    with pytest.raises(ConfigError) as error:
        load_config(
            EmbedConfig,
            None,
            [
                *base,
                "encoder.model=m",
                "encoder.pooling=max",
                "encoder.polling=x",
                "execution.actors=0",
                "execution.gpus_per_actor=some",
            ],
        )
    text = str(error.value)
    assert "encoder.polling: unknown key (did you mean 'pooling'?)" in text
    assert "execution.gpus_per_actor: must be float or Literal, got 'some'" in text
    with pytest.raises(ConfigError, match=r"encoder\.pooling: must be one of"):
        load_config(EmbedConfig, None, [*base, "encoder.model=m", "encoder.pooling=max"])
    with pytest.raises(ConfigError, match="embed needs a text_column or image_column"):
        load_config(EmbedConfig, None, [*base, "encoder.model=m", "source.vector_column=v"])
    # An override one level too deep makes the kind a mapping (found by tests/config/test_config_fuzz.py).
    with pytest.raises(ConfigError, match=r"encoder\.kind: must be a name, e\.g\. .*; got \{'source': ''\}"):
        load_config(EmbedConfig, None, ["source.path=x", "output.path=o", "encoder.kind.source="])
    with pytest.raises(ConfigError, match=r"translator\.method: must be a name"):
        load_config(
            TranslateConfig, None, ["source.path=x", "output.path=o", "anchors.target=t", "translator.method.x=1"]
        )


def test_translate_config_needs_an_encoder_exactly_when_the_source_has_no_vectors():
    base = ["source.path=c.parquet", "anchors.target=t.parquet", "output.path=o"]
    with pytest.raises(ConfigError, match="encoder: required to embed the source's text column"):
        load_config(TranslateConfig, None, [*base, "source.text_column=text", "anchors.source=s.parquet"])
    with pytest.raises(ConfigError, match="drop the encoder block"):
        load_config(TranslateConfig, None, [*base, "source.vector_column=v", "encoder.kind=hf_text", "encoder.model=m"])
    config = load_config(
        TranslateConfig, None, [*base, "source.vector_column=v", "translator.method=irp", "translator.delta=0.6"]
    )
    assert config.anchors.source is None and config.translator == TranslatorConfig("irp", {"delta": 0.6})


def test_jobs_writing_translated_tables_fit_auto_for_an_index_unless_the_config_names_an_objective():
    assert TranslatorConfig("auto").for_index() == TranslatorConfig("auto", {"objective": "index"})
    assert TranslatorConfig("auto", {"folds": 3}).for_index().options == {"folds": 3, "objective": "index"}
    named = TranslatorConfig("auto", {"objective": "retrieval"})
    assert named.for_index() is named
    assert TranslatorConfig("procrustes").for_index() == TranslatorConfig("procrustes")


def test_store_blocks_name_what_each_store_needs_and_never_record_the_dsn():
    base = ["source.vector_column=v", "anchors.target=t.parquet"]
    with pytest.raises(ConfigError) as error:
        load_config(
            TranslateConfig,
            None,
            [
                *base,
                "source.format=lancedb",
                "source.path=db",
                "output.format=pgvector",
                "output.table=t",
                "output.index.kind=ivf_pq",
                "output.dsn=host=x",
            ],
        )
    text = str(error.value)
    assert "source.table: required with format lancedb" in text
    assert "output.index: pgvector tables take kind ['hnsw', 'ivfflat']" in text
    with pytest.raises(ConfigError, match=r"output\.index: delta tables take no index"):
        load_config(
            TranslateConfig,
            None,
            [*base, "source.path=c", "output.format=delta", "output.path=d", "output.index.kind=hnsw"],
        )
    with pytest.raises(ConfigError, match=r"source\.dsn: required with format pgvector"):
        load_config(TranslateConfig, None, [*base, "source.format=pgvector", "source.table=t", "output.path=o"])

    planted = "host=db user=irp password=s3cret-planted"
    config = load_config(
        TranslateConfig,
        None,
        [*base, "source.path=c", "output.format=pgvector", "output.table=docs", f"output.dsn={planted}"],
    )
    assert records_of(config.output) == ".irp/pgvector/docs"  # the job's records default below the working directory
    table = output_store(config.output)
    assert table.dsn == planted
    assert "s3cret-planted" not in repr(config) + repr(table) + table.describe()
    assert "s3cret-planted" not in json.dumps(config_snapshot(config))  # nor in manifests and fingerprints


def test_translate_config_takes_one_target_or_several_with_anchor_tables_or_sets(tmp_path):
    raw = [
        "source.path=c.jsonl",
        "source.format=jsonl",
        "source.text_column=text",
        "encoder.kind=hf_text",
        "encoder.model=m",
    ]
    (tmp_path / "two.yaml").write_text(
        "translator: {method: procrustes}\n"
        "targets:\n"
        "  a: {anchors: {source: s.parquet, target: t.parquet}, output: {path: out/a}}\n"
        "  b: {anchors: {set: {path: set.parquet, text_column: text}, target_encoder: {kind: hf_text, model: m2}},\n"
        "      output: {path: out/b}, translator: {method: ridge, alpha: 1.0}}\n"
        "source_output: {path: out/source}\n"
    )
    config = load_config(TranslateConfig, tmp_path / "two.yaml", raw)
    targets = config.target_list()
    assert targets["a"].translator == TranslatorConfig("procrustes")  # the job's translator, inherited
    assert targets["b"].translator == TranslatorConfig("ridge", {"alpha": 1.0})
    assert targets["b"].anchors.target_encoder.options == {"model": "m2"}

    with pytest.raises(ConfigError) as caught:
        load_config(
            TranslateConfig,
            tmp_path / "two.yaml",
            [
                *raw,
                "anchors.target=t.parquet",
                "targets.a.output.path=out/b",
                "targets.b.anchors.target=t.parquet",
            ],
        )
    assert caught.value.problems[0] == (
        "targets.b.anchors.target: give exactly one of target (an anchor table) or set (anchor items the job embeds)"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(TranslateConfig, tmp_path / "two.yaml", [*raw, "anchors.target=t.parquet"])
    assert caught.value.problems == ["anchors: give it per target under targets.<name>, not beside targets"]
    with pytest.raises(ConfigError) as caught:
        load_config(TranslateConfig, tmp_path / "two.yaml", [*raw, "targets.a.output.path=out/b"])
    assert caught.value.problems == [
        "targets: every output needs its own path (or table); got ['out/b', 'out/b', 'out/source']"
    ]
    with pytest.raises(ConfigError) as caught:
        load_config(
            TranslateConfig,
            None,
            [
                "source.path=c.parquet",
                "source.vector_column=v",
                "anchors.set.path=s.parquet",
                "anchors.set.vector_column=v",
                "source_output.path=o2",
            ],
        )
    assert caught.value.problems == [
        "anchors.target_encoder: required with set, to embed the anchor set in the target space",
        "output: required (or name several targets under targets)",
        "source_output: the source vectors already exist; only a raw corpus writes them",
    ]


def test_anchor_paragraphs_need_a_text_set_and_both_models():
    raw = [
        "source.path=c.parquet",
        "source.text_column=text",
        "encoder.kind=hf_text",
        "encoder.model=m",
        "anchors.set.path=s.parquet",
        "anchors.set.text_column=text",
        "anchors.target_encoder.kind=hf_text",
        "anchors.target_encoder.model=m2",
        "anchors.passages=true",
        "output.path=o",
    ]
    assert load_config(TranslateConfig, None, raw).anchors.passages is True
    refused = (
        "anchors.passages: paragraphs are cut from an anchor set of texts and embedded by both models; give "
        "a set with a text_column and no source table"
    )
    for change in (["anchors.source=old.parquet"], ["anchors.set.text_column=null", "anchors.set.image_column=img"]):
        with pytest.raises(ConfigError) as caught:
            load_config(TranslateConfig, None, [*raw, *change])
        assert caught.value.problems == [refused]
    with pytest.raises(ConfigError) as caught:  # a store of vectors: no source model to embed the paragraphs
        load_config(TranslateConfig, None, [*raw[:1], "source.vector_column=v", *raw[4:]])
    assert caught.value.problems == [
        "anchors.passages: the source model must embed the paragraphs too, and a corpus of stored vectors names "
        "none; add them to the anchor set as rows of their own, with a source table of their old vectors"
    ]


def test_reduced_precision_is_a_valid_config_on_a_driver_without_a_gpu():
    # The driver that validates the config may be a CPU head; the actors that run the encoder have the GPUs.
    config = load_config(
        EmbedConfig,
        None,
        [
            "source.path=x",
            "source.format=images",
            "output.path=o",
            "encoder.kind=torch_image",
            "encoder.architecture=mobilenet_v2",
            "encoder.weights=w.pth",
            "encoder.precision=bf16",
        ],
    )
    assert config.encoder.options["precision"] == "bf16"


def test_a_sync_config_reports_every_problem_of_its_upgrade_and_backfill_blocks(tmp_path):
    path = tmp_path / "sync.yaml"
    path.write_text(
        "source: {path: dumps/, text_column: text}\nencoder: {kind: hf_text, model: m}\n"
        "store: {format: delta, path: stores/docs}\nupgrade: {anchors: 5, translator: {method: nope}}\n"
        "backfill: {rows_per_run: -1}\n"
    )
    with pytest.raises(ConfigError) as raised:
        load_config(SyncConfig, path)
    problems = "\n".join(raised.value.problems)
    assert "upgrade.anchors: must be >= 10" in problems
    assert "upgrade.translator" in problems and "nope" in problems
    assert "backfill.rows_per_run: must be >= 0" in problems
