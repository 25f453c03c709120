"""A target's paired anchors: anchor tables joined on ``id``, the corpus's own rows, or an anchor set the job
embeds first with the ``embed`` machinery, into the output's records (``<records>/anchors/``)."""

from __future__ import annotations

import json
import posixpath
from collections.abc import Callable

from pipeline.config import OutputConfig, SourceConfig
from pipeline.encoders import EncoderConfig
from pipeline.io.anchors import PairedAnchors, TableRef, load_paired_anchors
from pipeline.io.passage_files import write_passages
from pipeline.io.records import ANCHORS_DIR
from pipeline.io.stores.layout import records_of, source_store
from pipeline.jobs.embed import EmbedConfig, run_embed
from pipeline.jobs.translate_corpus.config import TargetConfig, TranslateConfig
from pipeline.provenance import config_snapshot


def anchor_tables(config: TranslateConfig, target: TargetConfig) -> PairedAnchors:
    """Pair the target's anchor tables; without a source table, the source side comes from the corpus rows."""
    anchors = target.anchors
    assert anchors.target is not None  # a target without an anchor table embeds its set (embed_anchor_set)
    if anchors.source is not None:
        source, from_corpus = TableRef(anchors.source, anchors.storage_options), False
    else:
        source, from_corpus = corpus_ref(config), True
    return load_paired_anchors(TableRef(anchors.target, anchors.storage_options), source, from_corpus)


def anchor_folder(target: TargetConfig) -> str:
    """Where a target's embedded anchor tables go: its output's records."""
    return f"{records_of(target.output).rstrip('/')}/{ANCHORS_DIR}"


def embed_anchor_set(
    config: TranslateConfig,
    target: TargetConfig,
    say: Callable[[str], None],
    embedded: dict[str, TableRef],
) -> PairedAnchors:
    """Embed the anchor set in the target space (and in the source space, for a raw corpus), then pair.

    The embedded tables are ordinary ``embed`` outputs (with records and claims of their own) under
    ``<records>/anchors/``: a rerun reuses them. A set that another target of the job already embedded with the
    same encoder is not embedded again (``embedded`` maps the set and encoder to the table). With
    ``anchors.passages``, the set's paragraphs are written to ``anchors/passages/texts`` and embedded by both
    models into ``anchors/passages/``, as more pairs.
    """
    anchors = target.anchors
    assert anchors.set is not None and anchors.target_encoder is not None  # AnchorsConfig.problems holds this
    folder = anchor_folder(target)

    def embed(items: SourceConfig, where: str, encoder: EncoderConfig, what: str = "set") -> TableRef:
        key = json.dumps(config_snapshot(EmbedConfig(items, encoder, OutputConfig(""))), sort_keys=True)
        if key in embedded:
            return embedded[key]
        output = OutputConfig(
            f"{folder}/{where}", overwrite=target.output.overwrite, storage_options=target.output.storage_options
        )
        summary = run_embed(EmbedConfig(items, encoder, output, config.execution))
        say(
            f"anchor {what} embedded in the {posixpath.basename(where)} space: {summary.rows_out} rows, "
            f"{summary.rows_quarantined} quarantined ({summary.seconds:.0f} s) -> {output.path}"
        )
        embedded[key] = TableRef(output.path, output.storage_options)
        return embedded[key]

    target_table = embed(anchors.set, "target", anchors.target_encoder)
    if anchors.source is not None:
        return load_paired_anchors(target_table, TableRef(anchors.source, anchors.storage_options))
    if config.encoder is None:
        return load_paired_anchors(target_table, corpus_ref(config), source_is_corpus=True)
    paired = load_paired_anchors(target_table, embed(anchors.set, "source", config.encoder))
    if not anchors.passages:
        return paired
    passages = write_passages(anchors.set, f"{folder}/passages/texts", target.output.storage_options)
    passage_pairs = load_paired_anchors(
        embed(passages, "passages/target", anchors.target_encoder, "paragraphs"),
        embed(passages, "passages/source", config.encoder, "paragraphs"),
    )
    return paired.extended(passage_pairs)


def corpus_ref(config: TranslateConfig) -> TableRef:
    """The corpus as an embedding table, to take the anchors' source vectors out of."""
    source = config.source
    return TableRef(
        source.path, source.storage_options, source.id_column, source.vector_column or "embedding", source_store(source)
    )
