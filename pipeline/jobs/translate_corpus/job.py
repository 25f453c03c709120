"""The ``translate_corpus`` job: fit one translator per target on its anchors, then run every shard once.

Each target's anchors are anchor tables joined on ``id``, or an anchor set the job embeds first
(:mod:`pipeline.jobs.translate_corpus.anchors`). The translators are fitted on the driver (anchor sets are small),
kept in their outputs' records, and shipped to the actors, where one encoding pass per shard feeds every target,
and the source-space table too when ``source_output`` asks for it. A source that already holds vectors goes
through the ``precomputed`` encoder, which checks them and loads no model.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pipeline.encoders import EncoderConfig
from pipeline.engine.driver import run_shard_job
from pipeline.engine.summary import Summary
from pipeline.io.anchors import TableRef
from pipeline.io.output import Output
from pipeline.io.records import Records
from pipeline.io.sources import inputs_fingerprint
from pipeline.io.stores.layout import records_of
from pipeline.jobs.embed import EmbedConfig, embedding_output
from pipeline.jobs.translate_corpus.anchors import anchor_tables, embed_anchor_set
from pipeline.jobs.translate_corpus.config import TargetConfig, TranslateConfig
from pipeline.provenance import config_snapshot, fingerprint, space_id
from pipeline.translate import FittedTranslator, fit_translator
from pipeline.translate.auto import describe
from pipeline.version import __version__


def run(config: TranslateConfig, say: Callable[[str], None] = print) -> list[str]:
    """Run the job; returns its summary lines (planning lines go to ``say``, progress to stderr)."""
    return run_translate(config, say).lines()


def main(argv: list[str] | None = None) -> int:
    from pipeline.jobs.entry import run_configured_job

    return run_configured_job(argv, "translate_corpus", __doc__.splitlines()[0], TranslateConfig, run)


def run_translate(config: TranslateConfig, say: Callable[[str], None] = print) -> Summary:
    """Plan every target (anchors, fit), then encode each shard once and write every output."""
    embedded: dict[str, TableRef] = {}  # anchor sets already embedded by this job, shared between targets
    shared = {key: value for key, value in config_snapshot(config).items() if key in ("source", "encoder")}
    outputs = [
        plan_target(config, name, target, shared, say, embedded) for name, target in config.target_list().items()
    ]
    if config.source_output is not None:
        assert config.encoder is not None  # TranslateConfig.problems: only a raw corpus writes its source vectors
        outputs.append(
            embedding_output(EmbedConfig(config.source, config.encoder, config.source_output, config.execution))
        )
    return run_shard_job(config.source, source_encoder(config, outputs), config.execution, outputs)


def source_encoder(config: TranslateConfig, outputs: list[Output]) -> EncoderConfig:
    """The job's encoder; for a source of stored vectors, ``precomputed`` at the width every translator takes.

    Raises:
        ValueError: the targets' anchors disagree on the source width.
    """
    if config.encoder is not None:
        return config.encoder
    widths = {output.translator.source_dim for output in outputs if output.translator is not None}
    if len(widths) != 1:
        raise ValueError(
            f"the targets' source anchors have different widths {sorted(widths)}; every target "
            "translates the same source vectors, so their source anchor tables must share one width"
        )
    return EncoderConfig("precomputed", {"dim": widths.pop()})


def plan_target(
    config: TranslateConfig,
    name: str,
    target: TargetConfig,
    shared: Mapping[str, Any],
    say: Callable[[str], None],
    embedded: dict[str, TableRef] | None = None,
) -> Output:
    """Get the target's paired anchors, fit its translator, and describe its output.

    ``shared`` is the part of the fingerprint snapshot every target has: source and encoder (each part carries
    its own input files' version, so an edited file redoes only its shards).

    Anchor tables are read first, so their content is part of the job fingerprint (changed anchors refuse to mix
    with an old output). An anchor set is embedded into the output's records; its config (path and encoders) and
    its files' stamps are what the fingerprint covers. Another job's output is refused before any anchor is
    embedded; the driver claims the output.
    """
    snapshot = {**shared, "target": config_snapshot(target)}
    anchors = None if target.anchors.set is not None else anchor_tables(config, target)
    if anchors is not None:
        snapshot["anchors_fingerprint"] = anchors.fingerprint
    else:
        anchor_set = target.anchors.set
        assert anchor_set is not None
        snapshot["anchor_set_inputs"] = inputs_fingerprint(
            anchor_set.path, anchor_set.format, dict(anchor_set.storage_options)
        )
    job_fingerprint = fingerprint(snapshot)
    Records(records_of(target.output), target.output.storage_options).refuse_foreign(
        job_fingerprint, target.output.overwrite, target.output.path or str(target.output.table)
    )
    if anchors is None:
        anchors = embed_anchor_set(config, target, say, {} if embedded is None else embedded)
    say(f"{name}: {len(anchors.ids)} anchors paired on id ({anchors.unmatched} ids in only one table)")
    assert target.translator is not None  # target_list fills it in
    chosen = target.translator.for_index()
    translator = fit_translator(anchors.source, anchors.target, chosen.method, **chosen.options)
    say(f"{name}: {translator.method} {dict(translator.options)}" + _cv_line(translator))
    provenance = {
        "space": target.output.space or anchors.target_space or name,
        "source_space": anchors.source_space or _source_space(config),
        "method": translator.method,
        "translator_options": dict(translator.options),
        "anchors_fingerprint": anchors.fingerprint,
        "job_fingerprint": job_fingerprint,
        "package_version": __version__,
    }
    return Output.of(target.output, provenance, {**snapshot, "anchors_fingerprint": anchors.fingerprint}, translator)


def _source_space(config: TranslateConfig) -> str:
    return space_id(config.encoder.kind, config.encoder.options) if config.encoder else "source"


def _cv_line(translator: FittedTranslator) -> str:
    auto = translator.report.get("auto")
    return f" (chosen by auto: {describe(auto)})" if auto else ""
