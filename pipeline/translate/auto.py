"""``auto``: choose the estimator and its options by k-fold cross-validation over the anchors, for an objective.

Each candidate is fitted on k-1 folds of the paired anchors and scored on the held-out fold with every metric
(:func:`fold_metrics`), over ``repeats`` partitions into folds; the objective names the metric that decides and
the default grid (:func:`default_candidates`). The simplest candidate whose mean score is within one standard
error of the best wins (the one-standard-error rule: a difference the folds cannot resolve goes to the map that
fits the least to the pairs, ``Estimator.isometry_rank``), and is refitted on all anchors. The error is that of the
candidate's fold-by-fold gap to the best (:func:`choose`). The whole table, every metric for every candidate
and its per-fold scores, goes into the translator's report, so the choice can be audited.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from pipeline.translate import scores as S
from pipeline.translate.estimators import ESTIMATORS, Fit
from pipeline.translate.options import AutoOptions, as_dict, parse_options

# The metric each objective decides by (all are reported). Retrieval: MRR of each held-out anchor's own target
# vector among every target anchor under raw cosine, as a translated query searches a native index (top-1 is
# reported beside it). Index: the same, among maps whose translations keep the target's covariance, so they can
# be the rows of an index that native queries search beside natively embedded rows (see DEFAULT_WHITENED_COLORING).
# Classification: the share of held-out anchors whose translation falls in the same cluster of the target anchors
# as their true vector (label-free: a decoder keeps its decision when the translation stays in its truth's region).
# Cosine: centered cosine to the true vector.
OBJECTIVE_METRIC = {
    "retrieval": "mrr",
    "index": "mrr",
    "classification": "cluster_agreement",
    "cosine": "centered_cosine",
}
METRICS = ("mrr", "top1", "cluster_agreement", "centered_cosine")
CLUSTERS = 16  # regions of the target anchors for cluster_agreement; fewer when the fold is small

# How much of the target's anisotropy the whitened Procrustes candidate gives back, by objective. Measured on BBC
# News (MiniLM-L6 <-> mpnet, 800 anchors, 5 draws each way; docs/evaluation/report.md): a translated article finds
# its own native vector top-1 0.951 and 0.942 at half coloring, against 0.946 and 0.934 fully colored and 0.945
# and 0.926 for isotropic Procrustes. But half-colored rows sit apart from native ones: native queries find
# their translated articles less often (0.946 against 0.954 MiniLM->mpnet), and far less often among 700 native
# rows of the same index (0.543 against 0.721), so a translated index keeps the full coloring.
DEFAULT_WHITENED_COLORING = {"retrieval": 0.5, "index": 1.0, "classification": 1.0, "cosine": 1.0}


def default_candidates(objective: str) -> tuple[Mapping[str, Any], ...]:
    """The grid ``auto`` compares when no ``candidates`` are given.

    Measured on BBC News (test top-1 under raw cosine, as above): whitened Procrustes leads; a second shrinkage
    (3 against 1, fully colored) was within 0.001 of the first, and a grid of near-equal settings only lets fold
    noise choose between them, so one setting stands in for the family. Blends with a small ridge penalty come
    next, plain ridge with alpha >= 1 trails (restoring its scale gives back 0.01). Left out, and named in
    ``candidates`` to compare: per-dimension scaling (never ahead of isotropic), IRP (pruned or Tikhonov,
    0.86-0.93, and the costliest fits: 23 s per fold for pruned IRP at 1,280 dims on 2 cores).
    """
    return (
        {"method": "procrustes", "scaling": "isotropic"},
        {"method": "procrustes", "scaling": "whitened", "coloring": DEFAULT_WHITENED_COLORING[objective]},
        *(
            {"method": "blend", "weight": weight, "alpha": alpha}
            for alpha in (0.03, 0.1)
            for weight in (0.25, 0.5, 0.75)
        ),
        *({"method": "ridge", "alpha": alpha} for alpha in (1e-2, 1e-1, 1.0, 10.0)),
        *({"method": "ridge", "alpha": alpha, "restore_scale": True} for alpha in (0.1, 1.0)),
    )


@dataclass(frozen=True)
class Selection:
    """The winner of cross-validation, refitted on every anchor."""

    method: str
    options: object
    fit: Fit


def select_by_cross_validation(source: np.ndarray, target: np.ndarray, options: AutoOptions) -> Selection:
    """Score every candidate by k-fold CV on the anchors and refit the chosen one on all of them.

    Args:
        source: (k, d_s) validated source anchors.
        target: (k, d_t) validated target anchors, rows paired with ``source``.
        options: objective, folds, seed and candidates.

    Raises:
        ValueError: a candidate is malformed, there are too few anchors for the folds, or no candidate fits.
    """
    candidates = _parse_candidates(options.candidates or default_candidates(options.objective))
    partitions = fold_partitions(source, target, options.folds, options.repeats, options.seed)
    rows = cross_validate(source, target, candidates, partitions, options.seed)
    metric = OBJECTIVE_METRIC[options.objective]
    best = choose(rows, metric)
    method, parsed = candidates[best]
    fit = ESTIMATORS[method].fit(source, target, parsed)
    auto_report = {
        "selected": {"method": method, "options": as_dict(parsed)},
        "objective": options.objective,
        "metric": metric,
        "rule": "the simplest candidate (lowest isometry_rank) within one standard error (of its fold-by-fold gap) "
        "of the best mean",
        "folds": options.folds,
        "repeats": options.repeats,
        "cv": rows,
    }
    return Selection(method, parsed, Fit(fit.plan, fit.state, {**fit.report, "auto": auto_report}))


def choose(rows: list[dict[str, Any]], metric: str) -> int:
    """Index of the winner: the lowest ``isometry_rank`` among candidates within one standard error of the best,
    the better score among equal ranks.

    The standard error is that of each candidate's gap to the best, fold by fold (``<metric>_folds``). Every
    candidate is scored on the same folds, and how hard a fold is moves all of them together: the spread of one
    candidate's own scores (``<metric>_se``) mostly measures that, and would call near-ties gaps the folds
    resolve clearly.

    Raises:
        ValueError: no candidate could be fitted.
    """
    scored = [i for i, row in enumerate(rows) if "error" not in row]
    if not scored:
        raise ValueError("auto: no candidate could be fitted:\n  - " + "\n  - ".join(r["error"] for r in rows))
    best = max(scored, key=lambda i: rows[i][metric])
    near = [i for i in scored if rows[i][metric] >= rows[best][metric] - gap_se(rows[best], rows[i], metric)]
    return min(near, key=lambda i: (rows[i]["isometry_rank"], -rows[i][metric], i))


def gap_se(best: Mapping[str, Any], other: Mapping[str, Any], metric: str) -> float:
    """Standard error of the mean fold-by-fold gap ``best - other`` in ``metric`` (0 with a single fold)."""
    gaps = np.asarray(best[f"{metric}_folds"]) - np.asarray(other[f"{metric}_folds"])
    return float(gaps.std(ddof=1) / np.sqrt(len(gaps))) if len(gaps) > 1 else 0.0


def cross_validated_quality(
    method: str,
    options: Mapping[str, Any],
    report: Mapping[str, Any],
    source: np.ndarray,
    target: np.ndarray,
    folds: int = 5,
    repeats: int = 2,
    seed: int = 0,
) -> dict[str, Any]:
    """How well a fitted translator generalizes: every metric of :func:`fold_metrics`, mean and standard error.

    Under ``auto`` it is the chosen candidate's row of the CV table in ``report``; for a fixed method, a fresh
    ``repeats`` x ``folds``-fold cross-validation of that method and options on the same anchors.

    Args:
        method, options, report: the fitted translator's (``FittedTranslator`` fields).
        source, target: (k, d_s) and (k, d_t) the anchors it was fitted on, rows paired.
    """
    auto = report.get("auto")
    if auto:
        row = next(r for r in auto["cv"] if r["method"] == method and r["options"] == dict(options))
        return {**row, "folds": auto["folds"], "repeats": auto.get("repeats", 1)}
    parsed: object = parse_options(ESTIMATORS[method].options, dict(options), method)
    source, target = np.asarray(source, np.float64), np.asarray(target, np.float64)
    partitions = fold_partitions(source, target, folds, repeats, seed)
    return {
        **cross_validate(source, target, [(method, parsed)], partitions, seed)[0],
        "folds": folds,
        "repeats": repeats,
    }


def describe(auto_report: Mapping[str, Any], shown: int = 3) -> str:
    """One line on how ``auto`` chose: the objective, its metric, and the best candidates' CV scores."""
    metric = auto_report["metric"]
    rows = sorted((row for row in auto_report["cv"] if metric in row), key=lambda row: -row[metric])[:shown]
    best = "; ".join(f"{_label(row)} {row[metric]:.3f} ± {row[f'{metric}_se']:.3f}" for row in rows)
    return (
        f"objective {auto_report['objective']}, {cv_name(auto_report)} {metric} on the anchors; best: "
        f"{best}; within one standard error the simplest wins"
    )


def cv_name(quality: Mapping[str, Any]) -> str:
    """``5-fold CV``, or ``2 x 5-fold CV`` over several partitions (reports older than repeats have one)."""
    repeats = quality.get("repeats", 1)
    return f"{repeats} x {quality['folds']}-fold CV" if repeats > 1 else f"{quality['folds']}-fold CV"


def _label(row: Mapping[str, Any]) -> str:
    options = ", ".join(
        f"{key}={value}"
        for key, value in row["options"].items()
        if key in ("scaling", "shrinkage", "coloring", "weight", "alpha", "restore_scale", "delta", "ridge")
    )
    return f"{row['method']}({options})"


def fold_indices(source: np.ndarray, target: np.ndarray, folds: int, seed: int) -> list[np.ndarray]:
    """Split the anchors' rows into ``folds`` shuffled, near-equal, disjoint index arrays.

    The folds depend on the anchor pairs, not on their row order: rows are first put in an order of their
    content (a digest of each pair's bytes), then shuffled by ``seed``. Anchors read from a table paired on id
    come in id order, and the same anchors in another order must give the same choice and the same translator.

    Args:
        source, target: (k, d_s) and (k, d_t) anchors, rows paired.
    """
    n = source.shape[0]
    if n < 2 * folds:
        raise ValueError(f"auto: {folds}-fold cross-validation needs at least {2 * folds} anchors; got {n}")
    digests = [
        hashlib.blake2b(np.ascontiguousarray(s).tobytes() + np.ascontiguousarray(t).tobytes(), digest_size=16).digest()
        for s, t in zip(source, target, strict=True)
    ]
    by_content = np.array(sorted(range(n), key=digests.__getitem__))
    return np.array_split(by_content[np.random.default_rng(seed).permutation(n)], folds)


def fold_partitions(
    source: np.ndarray, target: np.ndarray, folds: int, repeats: int, seed: int
) -> list[list[np.ndarray]]:
    """``repeats`` partitions of the anchors into ``folds`` (:func:`fold_indices`), the r-th shuffled by
    ``seed + r``."""
    return [fold_indices(source, target, folds, seed + repeat) for repeat in range(repeats)]


def cross_validate(
    source: np.ndarray,
    target: np.ndarray,
    candidates: list[tuple[str, object]],
    partitions: list[list[np.ndarray]],
    seed: int,
) -> list[dict[str, Any]]:
    """One row per candidate: every metric's mean over the folds of every partition, and its standard error
    (``<metric>_se``)."""
    per_fold: list[list[dict[str, float] | str]] = [[] for _ in candidates]
    for folds in partitions:
        for i, held_out in enumerate(folds):
            train = np.concatenate(folds[:i] + folds[i + 1 :])  # in fold order, so row order changes nothing
            _score_fold(source, target, candidates, train, held_out, seed, per_fold)
    return [_row(method, options, scores) for (method, options), scores in zip(candidates, per_fold, strict=True)]


def _score_fold(
    source: np.ndarray,
    target: np.ndarray,
    candidates: list[tuple[str, object]],
    train: np.ndarray,
    held_out: np.ndarray,
    seed: int,
    per_fold: list[list[dict[str, float] | str]],
) -> None:
    """Fit every candidate on ``train`` and append its :func:`fold_metrics` on ``held_out`` (or why it could not
    be fitted, after which it is skipped) to its list in ``per_fold``."""
    memo: dict = {}  # one fold's shared pieces (ridge eigendecomposition, Procrustes maps)
    regions = S.cluster_centers(target[train], min(CLUSTERS, len(train) // 10 or 1), seed)
    for scores, (method, options) in zip(per_fold, candidates, strict=True):
        if scores and isinstance(scores[-1], str):
            continue  # this candidate already failed on an earlier fold
        try:
            fit = ESTIMATORS[method].fit(source[train], target[train], options, memo)
        except ValueError as e:  # e.g. too few anchors for this candidate: record it, keep comparing
            scores.append(f"{method} {as_dict(options)}: {e}")
            continue
        predicted = fit.plan.apply(source[held_out]).astype(np.float64)
        scores.append(fold_metrics(predicted, target, held_out, train, regions))


def fold_metrics(
    predicted: np.ndarray, target: np.ndarray, held_out: np.ndarray, train: np.ndarray, regions: np.ndarray
) -> dict[str, float]:
    """Every metric of one fold.

    Args:
        predicted: (h, d_t) translations of the held-out anchors.
        target: (k, d_t) every target anchor: the gallery retrieval searches, so the training fold's anchors
            are distractors, as natively embedded rows are in a migrated index.
        held_out, train: (h,) and (k - h,) rows of this fold.
        regions: (c, d_t) cluster centers of the training fold's target anchors.
    """
    truth = target[held_out]
    ranks = S.gallery_ranks(predicted, target, held_out)
    center = target[train].mean(axis=0)
    return {
        "mrr": float(np.mean(1.0 / ranks)),
        "top1": float(np.mean(ranks == 1)),
        "cluster_agreement": float(np.mean(S.nearest(predicted, regions) == S.nearest(truth, regions))),
        "centered_cosine": float(S.centered_cosine(predicted, truth, center).mean()),
    }


def _row(method: str, options: object, scores: list[dict[str, float] | str]) -> dict[str, Any]:
    row: dict[str, Any] = {
        "method": method,
        "options": as_dict(options),
        "isometry_rank": ESTIMATORS[method].isometry_rank(options),
    }
    if scores and isinstance(scores[-1], str):
        return {**row, "error": scores[-1]}
    folds = cast(list[dict[str, float]], scores)  # a failure is only ever the last entry, and ends the list
    for metric in METRICS:
        values = np.array([fold[metric] for fold in folds])
        row[metric] = float(values.mean())
        row[f"{metric}_se"] = float(values.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 else 0.0
        row[f"{metric}_folds"] = values.tolist()
    return row


def _parse_candidates(candidates: tuple[Mapping[str, Any], ...]) -> list[tuple[str, object]]:
    parsed: list[tuple[str, object]] = []
    problems: list[str] = []
    for i, candidate in enumerate(candidates):
        options = dict(candidate)
        method = options.pop("method")
        if method not in ESTIMATORS:
            problems.append(f"candidate {i}: unknown method {method!r}; choose from {sorted(ESTIMATORS)}")
            continue
        try:
            parsed.append((method, parse_options(ESTIMATORS[method].options, options, method)))
        except (TypeError, ValueError) as e:
            problems.append(f"candidate {i}: {e}")
    if problems:
        raise ValueError("auto: invalid candidates:\n  - " + "\n  - ".join(problems))
    return parsed
