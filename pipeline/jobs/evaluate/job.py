"""The ``evaluate`` job: gather a labeled set in two spaces, run the protocol both ways, publish the report.

Embeddings come from tables, or from the ``embed`` job run on the corpus (into ``work_dir``, so a rerun reuses
them). The protocol itself is pure (pipeline.jobs.evaluate.protocol); the report is Markdown, PNG plots and a JSON of
every figure (pipeline.jobs.evaluate.report).
"""

from __future__ import annotations

import posixpath
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.config import OutputConfig
from pipeline.io.anchors import pair_on_id, read_embeddings
from pipeline.io.passage_files import write_passages
from pipeline.io.passages import MIN_PASSAGE_CHARS, owners_in
from pipeline.io.sources import resolve_path
from pipeline.jobs.embed import EmbedConfig, run_embed
from pipeline.jobs.evaluate.config import EvaluateConfig, RetrievalSetConfig
from pipeline.jobs.evaluate.protocol import AnchorPool, EvaluationPlan, evaluate_direction
from pipeline.jobs.evaluate.report import (
    aggregate,
    main_table,
    migration_table,
    plot_anchor_sweep,
    plot_irp_grid,
    write_json,
)
from pipeline.jobs.evaluate.retrieval import Passages, evaluate_migration, summarize


def run(config: EvaluateConfig, say: Callable[[str], None] = print) -> list[str]:
    """Embed or read both spaces, evaluate both directions, write the report; return its summary lines."""
    names = list(config.spaces)
    ids, vectors = load_spaces(config, say)
    labels = load_labels(config, ids)
    plan = EvaluationPlan(
        methods={label: (t.method, dict(t.options)) for label, t in config.translators.items()},
        anchors=config.anchors,
        test=config.test,
        draws=config.draws,
        anchor_sweep=config.anchor_sweep,
        deltas=config.deltas,
        subspaces=config.subspaces,
        decoders=config.decoders,
        decoupled=config.decoupled,
        seed=config.seed,
    )
    pools = load_anchor_pools(config)
    retrieval = config.retrieval
    retrieval_set = load_retrieval_set(config, say) if retrieval is not None else None
    passages = (
        load_passages(config, retrieval_set[0], say)
        if retrieval is not None and retrieval_set is not None and retrieval.anchor_passages
        else None
    )
    rows, migration_rows, directions = [], [], []
    for source, target in ((names[0], names[1]), (names[1], names[0])):
        direction = f"{source} → {target}"
        started = time.perf_counter()
        pool = AnchorPool(pools[source], pools[target]) if pools else None
        rows += evaluate_direction(vectors[source], vectors[target], labels, plan, direction, pool)
        if retrieval is not None and retrieval_set is not None:
            _, documents, queries = retrieval_set
            pieces = None if passages is None else Passages(passages[0], passages[1][source], passages[1][target])
            migration_rows += evaluate_migration(
                (documents[source], documents[target]),
                (queries[source], queries[target]),
                plan,
                direction,
                retrieval.anchor_queries,
                pieces,
            )
        directions.append(direction)
        say(f"evaluated {direction}: {config.draws} draws in {time.perf_counter() - started:.0f} s")
    return write_report(config, rows, migration_rows, directions, len(ids), vectors)


def main(argv: list[str] | None = None) -> int:
    from pipeline.jobs.entry import run_configured_job

    return run_configured_job(argv, "evaluate", __doc__.splitlines()[0], EvaluateConfig, run)


def load_spaces(config: EvaluateConfig, say: Callable[[str], None]) -> tuple[list[Any], dict[str, np.ndarray]]:
    """Every space's vectors for the ids all spaces share, in one sorted order."""
    tables = {}
    for name, space in config.spaces.items():
        # Its own folder: a table read from a folder takes every part under it, the retrieval set's too.
        url = space.table or embedded(config, config.corpus, posixpath.join(name, "corpus"), name, say)
        tables[name] = read_table(url, space.storage_options)
    return aligned(tables, config.test)


def load_retrieval_set(
    config: EvaluateConfig, say: Callable[[str], None]
) -> tuple[list[Any], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """``(ids, documents, queries)``, each ``{space: (n, d)}``, for the ids every table shares, sorted."""
    retrieval = retrieval_of(config)
    tables = {}
    for name in config.spaces:
        for part in ("documents", "queries"):
            tables[(name, part)] = read_table(
                embedded(config, getattr(retrieval, part), posixpath.join(name, part), f"{name} {part}", say)
            )
    ids, vectors = aligned(tables, config.test)
    return (
        ids,
        {name: vectors[(name, "documents")] for name in config.spaces},
        {name: vectors[(name, "queries")] for name in config.spaces},
    )


def load_passages(
    config: EvaluateConfig, document_ids: list[Any], say: Callable[[str], None]
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """``(owners (m,), {space: (m, d)})``: the retrieval documents' paragraphs, embedded by every space, and the
    row of each one's document in ``document_ids``; a paragraph some space set aside is left out."""
    source = write_passages(retrieval_of(config).documents, posixpath.join(config.work_dir, "_paragraphs"))
    tables = {
        name: read_table(embedded(config, source, posixpath.join(name, "passages"), f"{name} paragraphs", say))
        for name in config.spaces
    }
    shared = shared_ids(tables)
    kept, owners = owners_in(shared, document_ids)
    return owners, {name: np.stack([table[shared[i]] for i in kept]) for name, table in tables.items()}


def embedded(config: EvaluateConfig, source: Any, where: str, what: str, say: Callable[[str], None]) -> str:
    """Embed ``source`` with the space's encoder (``where`` starts with the space's name) into ``work_dir``."""
    name = where.split("/", 1)[0]
    space = config.spaces[name]
    if space.encoder is None:  # the config gives an encoder to every space this job embeds into
        raise ValueError(f"space {name!r} has no encoder to embed {what} with")
    url = posixpath.join(config.work_dir, where)
    # work_dir is this job's cache: embeddings of a changed corpus or encoder replace the old ones.
    summary = run_embed(EmbedConfig(source, space.encoder, OutputConfig(url, overwrite=True), config.execution))
    say(
        f"{what}: {summary.rows_out} rows embedded ({summary.shards_skipped} of {summary.shards} shards already "
        f"done) -> {url}"
    )
    return url


def read_table(url: str, storage_options: Mapping[str, Any] | None = None) -> dict[Any, np.ndarray]:
    """``{id: (d,) vector}`` of the embedding table at ``url`` (see :func:`by_id`)."""
    ids, vectors, _ = read_embeddings(url, storage_options)
    return by_id(ids, vectors, url)


def by_id(ids: list[Any], vectors: np.ndarray, url: str) -> dict[Any, np.ndarray]:
    """``{id: (d,) vector}`` of one table.

    Raises:
        ValueError: an id repeats. A dict would keep its last vector silently; that is how the corpus once read
            the retrieval set's title vectors, embedded into a folder under its own, in place of the articles.
    """
    table = dict(zip(ids, vectors, strict=True))
    if len(table) != len(ids):
        repeated = len(ids) - len(table)
        raise ValueError(
            f"{url}: {repeated} ids repeat (a table read from a folder takes every part under it; "
            "keep each embedding table in a folder of its own)"
        )
    return table


def aligned(tables: dict[Any, dict[Any, np.ndarray]], test: int) -> tuple[list[Any], dict[Any, np.ndarray]]:
    """The ids every table holds, sorted, and each table's vectors in that order."""
    shared = shared_ids(tables)
    if len(shared) <= test:
        raise ValueError(f"the tables share {len(shared)} ids: no train rows are left beside {test} test rows")
    return shared, {key: np.stack([table[i] for i in shared]) for key, table in tables.items()}


def shared_ids(tables: dict[Any, dict[Any, np.ndarray]]) -> list[Any]:
    """The ids every table holds, sorted."""
    return sorted(set.intersection(*(set(table) for table in tables.values())), key=str)


def load_anchor_pools(config: EvaluateConfig) -> dict[str, np.ndarray]:
    """Each space's anchor table, rows paired on id across the two spaces; empty without ``anchor_tables``."""
    if not config.anchor_tables:
        return {}
    (first, first_url), (second, second_url) = config.anchor_tables.items()
    first_ids, first_vectors, _ = read_embeddings(first_url)
    second_ids, second_vectors, _ = read_embeddings(second_url)
    _, first_aligned, second_aligned, _ = pair_on_id(first_ids, first_vectors, second_ids, second_vectors)
    return {first: first_aligned, second: second_aligned}


def load_labels(config: EvaluateConfig, ids: list[Any]) -> np.ndarray:
    """``(n,)`` class of each id: from the labels table, or the first folder of each id."""
    labels = config.labels
    if labels.path is None:
        return np.array([str(i).split("/", 1)[0] for i in ids])
    import pyarrow.dataset as ds

    table = ds.dataset(resolve_path(labels.path), format=labels.format).to_table(
        columns=[labels.id_column, labels.label_column]
    )
    ids_in_table, label_values = (table.column(name).to_pylist() for name in (labels.id_column, labels.label_column))
    label_of = dict(zip(ids_in_table, label_values, strict=True))
    missing = [i for i in ids if i not in label_of]
    if missing:
        raise ValueError(f"{len(missing)} ids have no label in {labels.path}, e.g. {missing[:3]}")
    return np.array([label_of[i] for i in ids])


def write_report(
    config: EvaluateConfig,
    rows: list[dict[str, Any]],
    migration_rows: list[dict[str, Any]],
    directions: list[str],
    n_items: int,
    vectors: dict[str, np.ndarray],
) -> list[str]:
    """Markdown, plots and JSON into ``config.output``; returns the report's lines."""
    output = Path(config.output)
    output.mkdir(parents=True, exist_ok=True)
    summary, migration = aggregate(rows), summarize(migration_rows)
    plot_anchor_sweep(summary, directions, output / "anchors.png")
    plot_irp_grid(summary, directions, output / "irp_grid.png")
    dims = ", ".join(f"{name} {matrix.shape[1]}-d" for name, matrix in vectors.items())
    lines = [
        "# Translation quality: every estimator, both directions",
        "",
        (
            f"{n_items} labeled items in two spaces ({dims}); {config.test} held-out test items; "
            f"{config.anchors} anchors drawn from the train split, {config.draws} draws (mean ± std over draws). "
            "Decoders are trained once on the target's own train embeddings and applied to translated test vectors; "
            "ratios are stitched / native. Top-k and MRR: retrieval of each test item's own target vector among all "
            "test items under raw cosine, as a vector store ranks. `decoupled irp`: sender and receiver fitted "
            "separately, the receiver's inverse on its own unpaired train vectors. Made by `python -m jobs.evaluate` "
            "(pipeline/jobs/evaluate/)."
        ),
    ]
    for direction in directions:
        lines += ["", f"## {direction}", "", *main_table(summary, direction, config.decoders)]
    if migration:
        lines += ["", "## A migrated index: new-model queries against old documents", "", migration_intro(config)]
        for direction in directions:
            lines += ["", f"### {direction}", "", *migration_table(migration, direction)]
    lines += [
        "",
        "## Accuracy against the number of anchors",
        "",
        "![anchors](anchors.png)",
        "",
        "## IRP against δ (pruning) and ω (subspaces)",
        "",
        "![irp grid](irp_grid.png)",
    ]
    (output / "report.md").write_text("\n".join(lines) + "\n")
    write_json(
        output / "report.json",
        {"summary": summary, "rows": rows, "migration": migration, "migration_rows": migration_rows},
    )
    return [*lines, "", f"written: {output / 'report.md'}, report.json, anchors.png, irp_grid.png"]


def retrieval_of(config: EvaluateConfig) -> RetrievalSetConfig:
    """The config's retrieval block, for the steps that only run when it has one."""
    if config.retrieval is None:
        raise ValueError("the config has no retrieval block")
    return config.retrieval


def migration_intro(config: EvaluateConfig) -> str:
    retrieval = retrieval_of(config)
    queries, documents = retrieval.queries, retrieval.documents
    return (
        f"Queries ({queries.path}, `{queries.text_column or queries.image_column}`) embedded by the new "
        f"model search {config.test} held-out documents ({documents.path}, "
        f"`{documents.text_column or documents.image_column}`); each query has one relevant document. "
        "Recall@k and MRR under raw cosine, mean ± std over the draws, and their ratios to `native` (the "
        "index re-embedded by the new model). `corpus translated`: the documents' old vectors translated "
        "into the new space. `queries translated`: the queries translated into the old space by the reverse "
        "translator, fitted on the same anchors, against the untouched old index. `no migration`: old-model "
        f"queries against the old index. {config.anchors} anchor documents per draw, from outside the "
        "held-out set."
        + (
            " `+ queries`: the same translator fitted on the anchor documents and their "
            f"queries ({2 * config.anchors} pairs from the same {config.anchors} items)."
            if retrieval.anchor_queries
            else ""
        )
        + (
            " `+ passages`: fitted on the anchor documents and their own paragraphs (blank-line separated, at "
            f"least {MIN_PASSAGE_CHARS} characters; pipeline/io/passages.py), no queries."
            if retrieval.anchor_passages
            else ""
        )
    )
