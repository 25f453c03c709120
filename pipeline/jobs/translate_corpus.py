"""The ``translate_corpus`` job: fit one translator per target on its anchors, then run every shard once.

Each target's anchors are anchor tables joined on ``id``, or an anchor set the job embeds first with the
``embed`` machinery (into ``<output>/_anchors/``). The translators are fitted on the driver (anchor sets are
small), saved next to their outputs, and shipped to the actors, where one encoding pass per shard feeds every
target, and the source-space table too when ``source_output`` asks for it. A source that already holds vectors
goes through the ``precomputed`` encoder, which checks them and loads no model.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Callable, Mapping
from typing import Any

from pipeline.config import EmbedConfig, EncoderConfig, OutputConfig, SourceConfig, TargetConfig, TranslateConfig
from pipeline.engine.driver import PlannedOutput, Summary, run_shard_job
from pipeline.engine.outputs import claim_output
from pipeline.engine.passage_files import write_passages
from pipeline.io.anchors import PairedAnchors, TableRef, load_paired_anchors
from pipeline.io.sink import OutputDir
from pipeline.io.sources import inputs_fingerprint
from pipeline.jobs.embed import embedding_output, run_embed
from pipeline.provenance import config_snapshot, fingerprint, space_id
from pipeline.translate import FittedTranslator, fit_translator
from pipeline.translate.auto import describe
from pipeline.version import __version__

ANCHORS_DIR = "_anchors"


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
    outputs = [plan_target(config, name, target, shared, say, embedded)
               for name, target in config.target_list().items()]
    if config.source_output is not None:
        embed = EmbedConfig(config.source, config.encoder, config.source_output, config.execution)
        outputs.append(embedding_output(embed))
    return run_shard_job(config.source, source_encoder(config, outputs), config.execution, outputs)


def source_encoder(config: TranslateConfig, outputs: list[PlannedOutput]) -> EncoderConfig:
    """The job's encoder; for a source of stored vectors, ``precomputed`` at the width every translator takes.

    Raises:
        ValueError: the targets' anchors disagree on the source width.
    """
    if config.encoder is not None:
        return config.encoder
    widths = {planned.translator.source_dim for planned in outputs if planned.translator is not None}
    if len(widths) != 1:
        raise ValueError(f"the targets' source anchors have different widths {sorted(widths)}; every target "
                         "translates the same source vectors, so their source anchor tables must share one width")
    return EncoderConfig("precomputed", {"dim": widths.pop()})


def plan_target(
    config: TranslateConfig, name: str, target: TargetConfig, shared: Mapping[str, Any],
    say: Callable[[str], None], embedded: dict[str, TableRef] | None = None,
) -> PlannedOutput:
    """Claim the target's output, get its paired anchors, fit and save its translator.

    ``shared`` is the part of the fingerprint snapshot every target has: source and encoder (each part carries
    its own input files' version, so an edited file redoes only its shards).

    Anchor tables are read before the output is claimed, so their content is part of the job fingerprint
    (changed anchors refuse to mix with an old output). An anchor set is embedded after the claim, into the
    claimed directory; its config (path and encoders) is what the fingerprint covers.
    """
    snapshot = {**shared, "target": config_snapshot(target)}
    anchors = None if target.anchors.set is not None else anchor_tables(config, target)
    if anchors is not None:
        snapshot["anchors_fingerprint"] = anchors.fingerprint
    else:
        anchor_set = target.anchors.set
        snapshot["anchor_set_inputs"] = inputs_fingerprint(anchor_set.path, anchor_set.format,
                                                           dict(anchor_set.storage_options))
    job_fingerprint = fingerprint(snapshot)
    claim_output(OutputDir(target.output.records, target.output.storage_options), job_fingerprint,
                 target.output.overwrite)
    if anchors is None:
        anchors = embed_anchor_set(config, target, say, {} if embedded is None else embedded)
    say(f"{name}: {len(anchors.ids)} anchors paired on id ({anchors.unmatched} ids in only one table)")
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
    return PlannedOutput(target.output, {**snapshot, "anchors_fingerprint": anchors.fingerprint}, provenance,
                         translator)


def anchor_tables(config: TranslateConfig, target: TargetConfig) -> PairedAnchors:
    """Pair the target's anchor tables; without a source table, the source side comes from the corpus rows."""
    anchors = target.anchors
    if anchors.source is not None:
        source, from_corpus = TableRef(anchors.source, anchors.storage_options), False
    else:
        source, from_corpus = _corpus_ref(config), True
    return load_paired_anchors(TableRef(anchors.target, anchors.storage_options), source, from_corpus)


def embed_anchor_set(
    config: TranslateConfig, target: TargetConfig, say: Callable[[str], None], embedded: dict[str, TableRef],
) -> PairedAnchors:
    """Embed the anchor set in the target space (and in the source space, for a raw corpus), then pair.

    The embedded tables are ordinary ``embed`` outputs under ``<output>/_anchors/``: a rerun reuses them. A set
    that another target of the job already embedded with the same encoder is not embedded again (``embedded``
    maps the set and encoder to the table). With ``anchors.passages``, the set's paragraphs are written to
    ``_anchors/passages.jsonl`` and embedded by both models into ``_anchors/passages/``, as more pairs.
    """
    anchors = target.anchors
    folder = f"{target.output.records.rstrip('/')}/{ANCHORS_DIR}"

    def embed(items: SourceConfig, where: str, encoder: EncoderConfig, what: str = "set") -> TableRef:
        key = json.dumps(config_snapshot(EmbedConfig(items, encoder, OutputConfig(""))), sort_keys=True)
        if key in embedded:
            return embedded[key]
        output = OutputConfig(f"{folder}/{where}", overwrite=target.output.overwrite,
                              storage_options=target.output.storage_options)
        summary = run_embed(EmbedConfig(items, encoder, output, config.execution))
        say(f"anchor {what} embedded in the {posixpath.basename(where)} space: {summary.rows_out} rows, "
            f"{summary.rows_quarantined} quarantined ({summary.seconds:.0f} s) -> {output.path}")
        embedded[key] = TableRef(output.path, output.storage_options)
        return embedded[key]

    target_table = embed(anchors.set, "target", anchors.target_encoder)
    if anchors.source is not None:
        return load_paired_anchors(target_table, TableRef(anchors.source, anchors.storage_options))
    if config.encoder is None:
        return load_paired_anchors(target_table, _corpus_ref(config), source_is_corpus=True)
    paired = load_paired_anchors(target_table, embed(anchors.set, "source", config.encoder))
    if not anchors.passages:
        return paired
    passages = write_passages(anchors.set, f"{folder}/passages/texts", target.output.storage_options)
    passage_pairs = load_paired_anchors(embed(passages, "passages/target", anchors.target_encoder, "paragraphs"),
                                        embed(passages, "passages/source", config.encoder, "paragraphs"))
    return paired.extended(passage_pairs)


def _corpus_ref(config: TranslateConfig) -> TableRef:
    source = config.source
    return TableRef(source.path, source.storage_options, source.id_column, source.vector_column, source.store)


def _source_space(config: TranslateConfig) -> str:
    return space_id(config.encoder.kind, config.encoder.options) if config.encoder else "source"


def _cv_line(translator: FittedTranslator) -> str:
    auto = translator.report.get("auto")
    return f" (chosen by auto: {describe(auto)})" if auto else ""

