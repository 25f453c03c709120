"""The ``demo`` job: a LanceDB vector-store migration on the packaged BBC News corpus, end to end on a local Ray.

It runs the real jobs, the way a user would: ``embed`` makes the old LanceDB table with the source model;
``translate_corpus`` embeds only the anchor articles with the target model, translates the whole table and
publishes the new one, index built, in one commit; ``embed`` makes the target model's own table of the held-out
articles and of their titles, which a real migration never has and the demo uses only as ground truth. The
scores: the target's decoder on the translated vectors, and Recall@10 of the target's title queries through the
index of the migrated table next to the native one.
"""

from __future__ import annotations

import io
import posixpath
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.config import IndexSpec, OutputConfig, SourceConfig
from pipeline.encoders import EncoderConfig
from pipeline.engine.summary import Summary
from pipeline.io.anchors import read_embeddings
from pipeline.io.records import ANCHORS_DIR
from pipeline.io.sources import title_and_body
from pipeline.io.stores.layout import output_store
from pipeline.jobs.demo.config import DemoConfig
from pipeline.jobs.embed import EmbedConfig, run_embed
from pipeline.jobs.translate_corpus import AnchorsConfig, TranslateConfig, run_translate

# Rows per Parquet row group of the demo's inputs: a row group is a shard, and small shards keep two actors busy.
ROWS_PER_SHARD = 64


@dataclass(frozen=True)
class DemoTables:
    """Every table the demo reads or writes."""

    corpus: str
    anchor_set: str
    heldout: str
    database: str  # the LanceDB database of the old, the migrated and the native table
    heldout_titles: str  # the target model's vectors of the held-out titles: the search queries

    @classmethod
    def under(cls, root: str) -> DemoTables:
        root = root.rstrip("/")
        return cls(
            corpus=f"{root}/inputs/corpus.parquet",
            anchor_set=f"{root}/inputs/anchor_set.parquet",
            heldout=f"{root}/inputs/heldout.parquet",
            database=f"{root}/lancedb",
            heldout_titles=f"{root}/heldout_titles_target",
        )

    def table(self, name: str, index: bool = True) -> OutputConfig:
        """A LanceDB table of the demo's database, published with an IVF-PQ index."""
        return OutputConfig(self.database, format="lancedb", table=name, index=IndexSpec("ivf_pq") if index else None)


OLD, MIGRATED, NATIVE = "bbc_old", "bbc_migrated", "bbc_native_heldout"


def run(config: DemoConfig, say: Callable[[str], None] = print) -> list[str]:
    """Write the inputs, run the three jobs, and return the score lines."""
    from pipeline.packaged import load_bbc_news
    from pipeline.quality.metrics import make_split

    corpus = load_bbc_news()
    split = make_split(len(corpus.ids), config.anchors, config.test, seed=config.seed)
    tables = DemoTables.under(config.output)
    write_inputs(tables, corpus, split)
    say(
        f"BBC News: {len(corpus.ids)} articles in {len(corpus.label_names)} classes; {config.anchors} anchor "
        f"articles, {config.test} held-out articles (seed {config.seed}); tables under {config.output}/"
    )
    source_encoder = _packaged_encoder(config.source_model)
    target_encoder = _packaged_encoder(config.target_model, max_length=config.target_max_length)

    say(f"\n[1/3] embed: the corpus with {config.source_model} into LanceDB table {OLD}, the old vector store")
    _report(say, run_embed(EmbedConfig(_texts(tables.corpus), source_encoder, tables.table(OLD), config.execution)))
    say(
        f"\n[2/3] translate_corpus: {OLD} into {config.target_model} space as table {MIGRATED}; the job embeds "
        f"the {config.anchors} anchor articles with {config.target_model}, nothing else"
    )
    _report(
        say,
        run_translate(
            TranslateConfig(
                source=SourceConfig(tables.database, format="lancedb", table=OLD, vector_column="embedding"),
                anchors=AnchorsConfig(set=_texts(tables.anchor_set), target_encoder=target_encoder),
                output=tables.table(MIGRATED),
                translator=config.translator,
                execution=config.execution,
            ),
            say=lambda line: say(f"      {line}"),
        ),
    )
    say(
        f"\n[3/3] embed: the {config.test} held-out articles and their titles with {config.target_model} "
        "(ground truth and queries for scoring)"
    )
    _report(say, run_embed(EmbedConfig(_texts(tables.heldout), target_encoder, tables.table(NATIVE), config.execution)))
    _report(
        say,
        run_embed(
            EmbedConfig(
                _texts(tables.heldout, "title"), target_encoder, OutputConfig(tables.heldout_titles), config.execution
            )
        ),
    )
    return score_lines(tables, corpus, config)


def main(argv: list[str] | None = None) -> int:
    from pipeline.jobs.entry import run_configured_job

    return run_configured_job(argv, "demo", __doc__.splitlines()[0], DemoConfig, run)


def write_inputs(tables: DemoTables, corpus: Any, split: Any) -> None:
    """The corpus, the anchor set and the held-out set as Parquet (id, text, label), written only if changed.

    Unchanged bytes keep the files' stamps, so a rerun of the demo resumes its jobs instead of redoing them.
    """
    for url, rows in (
        (tables.corpus, np.arange(len(corpus.ids))),
        (tables.anchor_set, split.anchors),
        (tables.heldout, split.test),
    ):
        table = pa.table(
            {
                "id": [corpus.ids[i] for i in rows],
                "text": [corpus.texts[i] for i in rows],
                "title": [title_and_body(corpus.texts[i])[0] for i in rows],
                "label": [corpus.label_names[corpus.labels[i]] for i in rows],
            }
        )
        buffer = io.BytesIO()
        pq.write_table(table, buffer, row_group_size=ROWS_PER_SHARD)
        fs, path = fsspec.core.url_to_fs(url)
        if fs.exists(path) and fs.cat_file(path) == buffer.getvalue():
            continue
        fs.makedirs(posixpath.dirname(path), exist_ok=True)
        fs.pipe_file(path, buffer.getvalue())


def score_lines(tables: DemoTables, corpus: Any, config: DemoConfig) -> list[str]:
    """Score the translated held-out rows with the target's decoder (trained on its anchors), and title search
    through the index of the migrated table next to the native one."""
    from pipeline.quality.decoders import train_logistic
    from pipeline.quality.metrics import score_translation
    from pipeline.quality.store_recall import indexed_recall

    label_of = dict(zip(corpus.ids, corpus.labels, strict=True))
    migrated, native = output_store(tables.table(MIGRATED)), output_store(tables.table(NATIVE))
    anchor_ids, anchors, _ = read_embeddings(f"{migrated.records}/{ANCHORS_DIR}/target")
    test_ids, truth, _ = read_embeddings("", store=native)
    translated_ids, translated, provenance = read_embeddings("", ids=test_ids, store=migrated)
    order = {value: row for row, value in enumerate(translated_ids)}
    translated = translated[[order[value] for value in test_ids]]  # align with the truth rows
    title_ids, titles, _ = read_embeddings(tables.heldout_titles)
    recall = {
        name: indexed_recall(ref, titles, title_ids, k=10, among=test_ids)
        for name, ref in (("migrated", migrated), ("native", native))
    }
    decoder = train_logistic(anchors, np.array([label_of[i] for i in anchor_ids]))
    scores = score_translation(
        translated, truth, np.array([label_of[i] for i in test_ids]), decoder, anchors.mean(axis=0)
    )
    target = config.target_model
    return [
        "",
        f"Result on {len(test_ids)} held-out articles ({provenance['method']} {provenance['translator_options']}):",
        f"  {target}'s decoder (logistic regression on its {len(anchor_ids)} anchor vectors):",
        (
            f"    native accuracy {scores['native_accuracy']:.3f}, on translated vectors "
            f"{scores['stitched_accuracy']:.3f} -> ratio {scores['accuracy_ratio']:.3f}"
        ),
        (
            f"  {target}'s index: each translated article finds its own {target} vector "
            f"top-1 {scores['top1']:.3f}, top-10 {scores['top10']:.3f} (among {len(test_ids)})"
        ),
        f"  centered cosine to the true vectors {scores['centered_cosine']:.3f}",
        (
            f"  Recall@10 of {target}'s title queries through the tables' IVF-PQ index (the same {len(title_ids)} "
            f"articles): migrated table {recall['migrated']:.3f}, native table {recall['native']:.3f} -> ratio "
            f"{recall['migrated'] / max(recall['native'], 1e-9):.3f}"
        ),
        (
            f"LanceDB {tables.database}: old table {OLD}, migrated table {MIGRATED} (with its index), native "
            f"{NATIVE}; job records and anchors under {tables.database}/_irp/"
        ),
    ]


def _texts(url: str, column: str = "text") -> SourceConfig:
    return SourceConfig(url, text_column=column)


def _packaged_encoder(name: str, max_length: int | None = None) -> EncoderConfig:
    options = {"model": f"packaged:{name}", "pooling": "mean", "normalize": True}
    return EncoderConfig("hf_text", options if max_length is None else {**options, "max_length": max_length})


def _report(say: Callable[[str], None], summary: Summary) -> None:
    say(
        f"      -> {', '.join(summary.outputs)}: {summary.rows_out} rows, {summary.rows_quarantined} quarantined, "
        f"{summary.seconds:.0f} s ({summary.rows_per_second:.1f} rows/s; {summary.shards_skipped} of "
        f"{summary.shards} shards already done)"
    )
