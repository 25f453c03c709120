"""``auto``: choose the estimator and its options by k-fold cross-validation over the anchors.

Each candidate is fitted on k-1 folds of the paired anchors and scored on the held-out fold by the centred
cosine between its translations and the true target vectors. The best mean score wins and is refitted on all
anchors; the whole score table goes into the translator's report, so the choice can be audited.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline.translate import functional as F
from pipeline.translate.estimators import ESTIMATORS, Fit
from pipeline.translate.options import AutoOptions, as_dict, parse_options

# Grids bracket the optimum seen on BBC News with MiniLM-L6 and mpnet in both directions (ridge alpha ~1,
# Tikhonov ~1-3, delta ~0.7-0.8), a decade or so either side. IRP uses 16 subspaces here to keep CV cheap.
DEFAULT_CANDIDATES: tuple[Mapping[str, Any], ...] = (
    {"method": "procrustes", "scaling": "isotropic"},
    {"method": "procrustes", "scaling": "per_dimension"},
    *({"method": "ridge", "alpha": alpha} for alpha in (1e-2, 1e-1, 1.0, 10.0)),
    *({"method": "irp", "delta": delta, "subspaces": 16} for delta in (0.6, 0.7, 0.8)),
    *({"method": "irp", "delta": None, "subspaces": 1, "ridge": ridge} for ridge in (0.3, 1.0, 3.0)),
)


@dataclass(frozen=True)
class Selection:
    """The winner of cross-validation, refitted on every anchor."""

    method: str
    options: object
    fit: Fit


def select_by_cross_validation(source: np.ndarray, target: np.ndarray, options: AutoOptions) -> Selection:
    """Score every candidate by k-fold CV on the anchors and refit the best one on all of them.

    Args:
        source: (k, d_s) validated source anchors.
        target: (k, d_t) validated target anchors, rows paired with ``source``.
        options: folds, seed and candidates.

    Raises:
        ValueError: a candidate is malformed, there are too few anchors for the folds, or no candidate fits.
    """
    candidates = _parse_candidates(options.candidates or DEFAULT_CANDIDATES)
    folds = fold_indices(source.shape[0], options.folds, options.seed)
    rows = [_cross_validate(source, target, method, parsed, folds) for method, parsed in candidates]
    scored = [i for i, row in enumerate(rows) if "error" not in row]
    if not scored:
        raise ValueError("auto: no candidate could be fitted:\n  - " + "\n  - ".join(r["error"] for r in rows))
    best = max(scored, key=lambda i: rows[i]["centred_cosine"])
    method, parsed = candidates[best]
    fit = ESTIMATORS[method].fit(source, target, parsed)
    auto_report = {
        "selected": {"method": method, "options": as_dict(parsed)},
        "metric": "centred_cosine",
        "folds": options.folds,
        "cv": rows,
    }
    return Selection(method, parsed, Fit(fit.plan, fit.state, {**fit.report, "auto": auto_report}))


def fold_indices(n: int, folds: int, seed: int) -> list[np.ndarray]:
    """Split ``range(n)`` into ``folds`` shuffled, near-equal, disjoint index arrays."""
    if n < 2 * folds:
        raise ValueError(f"auto: {folds}-fold cross-validation needs at least {2 * folds} anchors; got {n}")
    return np.array_split(np.random.default_rng(seed).permutation(n), folds)


def _parse_candidates(candidates: tuple[Mapping[str, Any], ...]) -> list[tuple[str, object]]:
    parsed, problems = [], []
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


def _cross_validate(
    source: np.ndarray, target: np.ndarray, method: str, options: object, folds: list[np.ndarray]
) -> dict[str, Any]:
    row: dict[str, Any] = {"method": method, "options": as_dict(options)}
    cosines, top1 = [], []
    for held_out in folds:
        train = np.setdiff1d(np.arange(source.shape[0]), held_out)
        try:
            fit = ESTIMATORS[method].fit(source[train], target[train], options)
        except ValueError as e:  # e.g. too few anchors for this candidate: record it, keep comparing
            return {**row, "error": f"{method} {row['options']}: {e}"}
        predicted = fit.plan.apply(source[held_out]).astype(np.float64)
        centre = target[train].mean(axis=0)
        cosines.append(F.centred_cosine(predicted, target[held_out], centre).mean())
        top1.append(F.top_k_retrieval(predicted, target[held_out], centre, k=1))
    return {
        **row,
        "centred_cosine": float(np.mean(cosines)),
        "centred_cosine_std": float(np.std(cosines)),
        "top1": float(np.mean(top1)),
    }
