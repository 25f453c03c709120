"""The evaluation protocol on in-memory embeddings: every estimator, the decoupled form, sweeps, several draws.

Pure numpy/torch, no Ray and no IO: ``evaluate_direction`` takes one labeled set embedded in two spaces and
returns flat result rows that the report aggregates (mean and spread over draws). Each draw takes a fresh
random set of anchors from the train split, or from a separate anchor pool; the test split and the decoders
(trained once per target space on its own native train embeddings) stay fixed, so draws differ only in the
anchors. Within a draw every estimator is fitted on the same anchors (one set per anchor count): the table
compares estimators, and a fresh set for each would add the anchors' own luck to every difference.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipeline.quality.decoders import train_decoder
from pipeline.quality.metrics import make_split, score_translation
from pipeline.translate import RelativeProjector, fit_translator

DECOUPLED = "decoupled irp"


@dataclass(frozen=True)
class EvaluationPlan:
    """What to measure.

    Attributes:
        methods: label -> (method, options) of every estimator in the main table.
        anchors: anchors per draw in the main table.
        test: held-out rows translated and scored.
        draws: random anchor draws (the spread reported is over them).
        anchor_sweep: anchor counts of the accuracy-vs-anchors sweep (methods without ``auto``, whose CV makes
            it slow).
        deltas, subspaces: the IRP grid (pruning threshold δ, ``None`` = no pruning; ω subsets).
        decoders: decoder names (``pipeline.quality.decoders``).
        decoupled: also score the decoupled form (receiver inverse fitted on its own unpaired train vectors).
        seed: seeds the split and the draws.
    """

    methods: Mapping[str, tuple[str, Mapping[str, Any]]]
    anchors: int = 800
    test: int = 725
    draws: int = 5
    anchor_sweep: Sequence[int] = (100, 200, 400, 800, 1200)
    deltas: Sequence[float | None] = (None, 0.5, 0.6, 0.7, 0.8)
    subspaces: Sequence[int] = (1, 8, 32)
    decoders: Sequence[str] = ("logistic", "mlp")
    decoupled: bool = True
    seed: int = 0
    sweep_methods: Sequence[str] = field(default_factory=lambda: ("irp", "procrustes", "ridge"))


@dataclass(frozen=True)
class AnchorPool:
    """Paired anchor items from outside the evaluation set, rows aligned: ``source (k, d_s)``, ``target (k, d_t)``."""

    source: np.ndarray
    target: np.ndarray


def evaluate_direction(
    source: np.ndarray,
    target: np.ndarray,
    labels: np.ndarray,
    plan: EvaluationPlan,
    direction: str,
    pool: AnchorPool | None = None,
) -> list[dict[str, Any]]:
    """All result rows for translating ``source: (n, d_s)`` into ``target: (n, d_t)`` (rows aligned, labeled).

    Anchors are drawn from ``pool`` when given, else from the train split of the set itself.
    Every row carries ``direction``, ``experiment`` (main, anchors, irp_grid), ``draw``, ``label``,
    ``n_anchors`` and the :func:`score_translation` figures of one decoder (``decoder``).

    Raises:
        ValueError: the pool (or the train split) holds fewer items than ``plan.anchors``.
    """
    split = make_split(len(labels), 0, plan.test, seed=plan.seed)
    if pool is None:
        pool = AnchorPool(source[split.train], target[split.train])
    if len(pool.source) < plan.anchors:
        raise ValueError(f"{len(pool.source)} anchor candidates cannot give {plan.anchors} anchors per draw")
    decoders = {
        name: train_decoder(name, target[split.train], labels[split.train], seed=plan.seed) for name in plan.decoders
    }
    rows = []
    for draw in range(plan.draws):
        rng = np.random.default_rng([plan.seed, draw])
        drawn: dict[int, np.ndarray] = {}  # anchors per count: every estimator of a draw is fitted on the same ones
        for experiment, label, n_anchors, method, options in _runs(plan, len(pool.source)):
            if n_anchors not in drawn:
                drawn[n_anchors] = np.sort(rng.choice(len(pool.source), size=n_anchors, replace=False))
            chosen = drawn[n_anchors]
            anchors = AnchorPool(pool.source[chosen], pool.target[chosen])
            translated = _translate(anchors, source[split.test], target[split.train], method, options)
            for decoder_name, decoder in decoders.items():
                scores = score_translation(
                    translated, target[split.test], labels[split.test], decoder, anchors.target.mean(axis=0)
                )
                rows.append(
                    {
                        "direction": direction,
                        "experiment": experiment,
                        "draw": draw,
                        "label": label,
                        "method": method,
                        "options": dict(options),
                        "n_anchors": n_anchors,
                        "decoder": decoder_name,
                        **scores,
                    }
                )
    return rows


def _runs(plan: EvaluationPlan, n_train: int) -> Iterator[tuple[str, str, int, str, Mapping[str, Any]]]:
    """(experiment, label, anchors, method, options) of every fit in one draw."""
    for label, (method, options) in plan.methods.items():
        yield "main", label, plan.anchors, method, options
    if plan.decoupled:
        yield "main", DECOUPLED, plan.anchors, DECOUPLED, {}
    for n_anchors in plan.anchor_sweep:
        if n_anchors <= n_train:
            for method in plan.sweep_methods:
                yield "anchors", method, n_anchors, method, {}
    for delta in plan.deltas:
        for subspaces in plan.subspaces:
            if delta is None and subspaces > 1:
                continue  # without pruning every subset is the whole anchor set
            yield "irp_grid", f"δ={delta}, ω={subspaces}", plan.anchors, "irp", {"delta": delta, "subspaces": subspaces}


def _translate(
    anchors: AnchorPool, test: np.ndarray, receiver_samples: np.ndarray, method: str, options: Mapping[str, Any]
) -> np.ndarray:
    """``test: (m, d_s)`` translated into ``(m, d_t)`` by ``method`` fitted on ``anchors``."""
    if method == DECOUPLED:
        # Each side sees only its own space: the receiver fits its inverse on its own train vectors, unpaired.
        sender = RelativeProjector.fit(anchors.source, receiver=False)
        receiver = RelativeProjector.fit(anchors.target, samples=receiver_samples)
        return receiver.from_relative(sender.to_relative(test))
    return fit_translator(anchors.source, anchors.target, method, **dict(options)).transform(test)
