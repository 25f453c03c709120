"""A migrated index, scored as it is used: queries from the new model against documents from the old one.

A store of documents embedded by the old model (source) moves to a new model (target). Its queries now come
from the new model. Two strategies need no re-embedding of the documents, and two bounds frame them:

- ``native``: new-model queries against new-model documents, the re-embedded index (upper bound);
- ``corpus translated``: new-model queries against the documents translated old -> new (the migration);
- ``queries translated``: new-model queries translated new -> old, by the reverse translator fitted on the same
  anchors, against the untouched old index (the Drift-Adapter direction: nothing is re-indexed);
- ``no migration``: old-model queries against old-model documents.

Recall@1, Recall@10 and MRR of each query's own document among the held-out documents, under raw cosine, as
ratios to ``native``. Anchors are drawn afresh in each draw from the documents outside the held-out set; with
``anchor_queries`` each translator is also fitted on those documents and their queries, so the map has seen
query-like inputs (short titles, where the documents are long bodies); with anchor passages, on those documents
and their paragraphs (pipeline.io.passages), which needs no queries at all. Pure numpy: no Ray, no IO.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline.jobs.evaluate.protocol import DECOUPLED, EvaluationPlan
from pipeline.quality.metrics import make_split, retrieval_metrics
from pipeline.translate import fit_translator

NATIVE, CORPUS, QUERIES, NO_MIGRATION = "native", "corpus translated", "queries translated", "no migration"
FIGURES = ("recall1", "recall10", "mrr")
QUERY_ANCHORS = " + queries"  # label suffix of translators fitted on anchor documents and their queries
PASSAGE_ANCHORS = " + passages"  # ... and of those fitted on anchor documents and their paragraphs


@dataclass(frozen=True)
class Passages:
    """Paragraphs of the documents, embedded in both spaces.

    Attributes:
        owners: ``(m,)`` the row of each passage's document in the documents' arrays.
        source: ``(m, d_s)`` the passages in the old space.
        target: ``(m, d_t)`` the passages in the new space.
    """

    owners: np.ndarray
    source: np.ndarray
    target: np.ndarray


def evaluate_migration(
    documents: tuple[np.ndarray, np.ndarray],
    queries: tuple[np.ndarray, np.ndarray],
    plan: EvaluationPlan,
    direction: str,
    anchor_queries: bool = False,
    passages: Passages | None = None,
) -> list[dict[str, Any]]:
    """Rows of every strategy for every translator of ``plan`` (but the decoupled form), over its draws.

    Args:
        documents: ``(source (n, d_s), target (n, d_t))``: the same n documents in the old and the new space.
        queries: ``(source (n, d_s), target (n, d_t))``: query i is answered by document i.
        plan: translators, held-out size (``test``), anchors per draw, draws and seed.
        direction: written into every row, e.g. ``"a → b"``.
        anchor_queries: also fit each translator on the anchor documents and their queries (``2 * anchors``
            pairs), labeled ``"<label> + queries"``.
        passages: the documents' paragraphs in both spaces: also fit each translator on the anchor documents and
            their own paragraphs, labeled ``"<label> + passages"`` (a held-out document's are never fitted on).

    Returns:
        Flat rows ``{direction, label, strategy, draw, recall1, recall10, mrr}``; ``native`` and ``no migration``
        once per draw (they do not depend on a translator; label ``-``).
    """
    (source_docs, target_docs), (source_queries, target_queries) = documents, queries
    split = make_split(len(source_docs), 0, plan.test, seed=plan.seed)
    test = split.test
    bounds = {
        NATIVE: retrieval_metrics(target_queries[test], target_docs[test]),
        NO_MIGRATION: retrieval_metrics(source_queries[test], source_docs[test]),
    }
    rows = []
    for draw in range(plan.draws):
        rows += [{"direction": direction, "label": "-", "strategy": s, "draw": draw, **m} for s, m in bounds.items()]
        rng = np.random.default_rng([plan.seed, draw, 1])
        anchors = np.sort(rng.choice(split.train, size=plan.anchors, replace=False))
        pairs = anchor_pairs(anchors, documents, queries if anchor_queries else None, passages)
        for label, (method, options) in plan.methods.items():
            if method == DECOUPLED:
                continue
            for suffix, (source_anchors, target_anchors) in pairs.items():
                forward = fit_translator(source_anchors, target_anchors, method, **dict(options))
                backward = fit_translator(target_anchors, source_anchors, method, **dict(options))
                strategies = {
                    CORPUS: retrieval_metrics(target_queries[test], forward.transform(source_docs[test])),
                    QUERIES: retrieval_metrics(backward.transform(target_queries[test]), source_docs[test]),
                }
                rows += [
                    {"direction": direction, "label": label + suffix, "strategy": s, "draw": draw, **m}
                    for s, m in strategies.items()
                ]
    return rows


def anchor_pairs(
    anchors: np.ndarray,
    documents: tuple[np.ndarray, np.ndarray],
    queries: tuple[np.ndarray, np.ndarray] | None,
    passages: Passages | None,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Label suffix -> ``(source (k, d_s), target (k, d_t))`` anchor pairs: the anchor documents alone, and with
    their queries and with their paragraphs where those are given."""
    source_docs, target_docs = documents
    pairs = {"": (source_docs[anchors], target_docs[anchors])}
    if queries is not None:
        pairs[QUERY_ANCHORS] = (
            np.concatenate([source_docs[anchors], queries[0][anchors]]),
            np.concatenate([target_docs[anchors], queries[1][anchors]]),
        )
    if passages is not None:
        theirs = np.isin(passages.owners, anchors)
        pairs[PASSAGE_ANCHORS] = (
            np.concatenate([source_docs[anchors], passages.source[theirs]]),
            np.concatenate([target_docs[anchors], passages.target[theirs]]),
        )
    return pairs


def summarize(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean and std over draws per (direction, label, strategy), with each figure's ratio to ``native``."""
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["direction"], row["label"], row["strategy"]), []).append(row)
    native = {direction: members for (direction, _, strategy), members in groups.items() if strategy == NATIVE}
    summary = []
    for (direction, label, strategy), members in groups.items():
        entry: dict[str, Any] = {"direction": direction, "label": label, "strategy": strategy, "draws": len(members)}
        for figure in FIGURES:
            values = np.array([m[figure] for m in members])
            bound = np.mean([m[figure] for m in native[direction]])
            entry[figure] = {"mean": float(values.mean()), "std": float(values.std())}
            entry[f"{figure}_ratio"] = {"mean": float(values.mean() / bound), "std": float(values.std() / bound)}
        summary.append(entry)
    return summary
