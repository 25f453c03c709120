"""The estimators: each fits paired anchors into an affine plan, registered in a plain dict by name.

An estimator takes validated float64 anchors ``source: (k, d_s)``, ``target: (k, d_t)`` and its parsed options,
and returns a :class:`Fit`. translators.py wraps a Fit with its provenance; auto.py compares estimators.

Fits of the same anchors share their costly pieces through an optional ``memo`` dict (valid for one pair of
anchor arrays): cross-validation tries several ridge penalties and blends per fold, and each reuses one
eigendecomposition and one Procrustes rotation instead of refactorising.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from pipeline.translate import functional as F
from pipeline.translate.options import (
    BlendOptions,
    IRPOptions,
    ProcrustesOptions,
    RidgeOptions,
    as_dict,
)
from pipeline.translate.plan import AffinePlan
from pipeline.translate.projector import RelativeProjector, compose_plan

Memo = dict[tuple[Any, ...], Any]


@dataclass(frozen=True, eq=False)
class Fit:
    """What an estimator produces.

    Attributes:
        plan: the fused translator.
        state: named arrays worth keeping beside the plan (e.g. the Procrustes rotation), saved with it.
        report: JSON-ready diagnostics.
    """

    plan: AffinePlan
    state: dict[str, np.ndarray] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict)


def fit_irp(source: np.ndarray, target: np.ndarray, options: IRPOptions, memo: Memo | None = None) -> Fit:
    """Inverse relative projection, built literally as a sender projector composed with a receiver projector."""
    sender = RelativeProjector.fit(source, receiver=False, **as_dict(options))  # composing needs no inverse
    receiver = RelativeProjector.fit(target, **as_dict(options))
    report = {"source": dict(sender.report), "target": dict(receiver.report)}
    # compose_plan has already raised when the receiver has no inverse.
    return Fit(compose_plan(sender, receiver), {"target_inverse": receiver.require_inverse()}, report)


def fit_procrustes(source: np.ndarray, target: np.ndarray, options: ProcrustesOptions, memo: Memo | None = None) -> Fit:
    """Standard scaling, zero padding, orthogonal map; folded into ``(x - mu_s) @ M + mu_t``.

    With ``x_std = (x - mu_s) @ S_s^-1`` and ``y = (pad(x_std) @ R)[:d_t] @ S_t + mu_t``, the matrix is
    ``M = S_s^-1 @ R[:d_s, :d_t] @ S_t``, where ``S`` is ``diag(sigma)`` under standard scaling. Whitened,
    ``S_s`` is the shrunk source covariance's square root and ``S_t`` the target's raised to ``coloring / 2``;
    below full coloring, ``M`` is scaled so the translated anchors spread around ``mu_t`` as far as the target
    anchors do.
    """
    matrix, rotation, residual = _remembered(
        memo, ("procrustes", options), lambda: _procrustes_map(source, target, options, memo)
    )
    plan = AffinePlan(source.mean(axis=0), False, matrix, False, 1.0, target.mean(axis=0))
    return Fit(plan, {"rotation": rotation}, {"relative_residual": residual})


def fit_ridge(source: np.ndarray, target: np.ndarray, options: RidgeOptions, memo: Memo | None = None) -> Fit:
    """Affine ridge regression ``y = (x - mu_s) @ W + mu_t`` (the intercept absorbs the means).

    With ``restore_scale`` every prediction's offset from ``mu_t`` is rescaled to the target anchors' mean
    radius: the plan's output normalization, with that radius as its scale.
    """
    weights = _ridge_weights(source, target, options.alpha, memo)
    source_mean, target_mean = source.mean(axis=0), target.mean(axis=0)
    if not options.restore_scale:
        return Fit(AffinePlan(source_mean, False, weights, False, 1.0, target_mean))
    radius = F.mean_centered_norm(target, target_mean)
    return Fit(AffinePlan(source_mean, False, weights, True, radius, target_mean), report={"radius": radius})


def fit_blend(source: np.ndarray, target: np.ndarray, options: BlendOptions, memo: Memo | None = None) -> Fit:
    """``weight * ridge + (1 - weight) * procrustes``: one affine map, both parts fitted on the same anchors."""
    ridge = _ridge_weights(source, target, options.alpha, memo)
    procrustes_options = ProcrustesOptions(options.scaling)
    procrustes, _, _ = _remembered(
        memo, ("procrustes", procrustes_options), lambda: _procrustes_map(source, target, procrustes_options, memo)
    )
    matrix = options.weight * ridge + (1.0 - options.weight) * procrustes
    return Fit(AffinePlan(source.mean(axis=0), False, matrix, False, 1.0, target.mean(axis=0)))


def _procrustes_map(
    source: np.ndarray, target: np.ndarray, options: ProcrustesOptions, memo: Memo | None = None
) -> tuple[np.ndarray, np.ndarray, float]:
    """(d_s, d_t) M of the folded Procrustes map, the (D, D) rotation, and the relative residual on the anchors."""
    source_mean, source_in, _ = _scalings(source, options, memo, "source")
    target_mean, target_in, target_out = _scalings(target, options, memo, "target")
    source_std = _scaled(source - source_mean, source_in)
    target_std = _scaled(target - target_mean, target_in)
    rotation = F.procrustes_rotation(source_std, target_std)
    d_s, d_t = source.shape[1], target.shape[1]
    matrix = _scaled(_scaled(rotation[:d_s, :d_t].T, source_in).T, target_out)  # S_s^-1 @ R @ S_t
    if options.scaling == "whitened" and options.coloring < 1.0:
        # A partial coloring leaves the scale arbitrary; the target anchors' own spread is the one to keep.
        matrix = matrix * np.linalg.norm(target - target_mean) / np.linalg.norm((source - source_mean) @ matrix)
    width = rotation.shape[0]
    aligned = F.zero_pad(source_std, width) @ rotation
    residual = np.linalg.norm(aligned - F.zero_pad(target_std, width)) / np.linalg.norm(target_std)
    return matrix, rotation, float(residual)


def _scalings(
    anchors: np.ndarray, options: ProcrustesOptions, memo: Memo | None, side: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(d,) mean, the scaling into the standardized space and the one back out of it: (d,) diagonals under
    standard scaling (a dense d x d diagonal would cost d^3 per fit for nothing), (d, d) symmetric when whitened."""
    if options.scaling == "whitened":
        mean = anchors.mean(axis=0)
        # One eigendecomposition per space serves every shrinkage cross-validation tries.
        spectrum = _remembered(memo, ("covariance", side), lambda: F.covariance_spectrum(anchors - mean))
        whiten, color = F.shrunk_whitening(spectrum, options.shrinkage, options.coloring)
        return mean, whiten, color
    mean, spread = F.standard_scaling(anchors, options.scaling == "per_dimension")
    return mean, 1.0 / spread, spread


def _scaled(rows: np.ndarray, scaling: np.ndarray) -> np.ndarray:
    """``rows: (n, d) @ S`` for a scaling of :func:`_scalings`: a (d,) diagonal or a (d, d) matrix."""
    return rows * scaling if scaling.ndim == 1 else rows @ scaling


def _ridge_weights(source: np.ndarray, target: np.ndarray, alpha: float, memo: Memo | None) -> np.ndarray:
    path = _remembered(
        memo, ("ridge_path",), lambda: F.RidgePath.fit(source - source.mean(axis=0), target - target.mean(axis=0))
    )
    return path.weights(alpha)


def _remembered(memo: Memo | None, key: tuple[Any, ...], compute: Callable[[], Any]) -> Any:
    if memo is None:
        return compute()
    if key not in memo:
        memo[key] = compute()
    return memo[key]


class FitFunction(Protocol):
    """An estimator's fit: ``(source, target, parsed options, memo=None) -> Fit``."""

    def __call__(self, source: np.ndarray, target: np.ndarray, options: Any, memo: Memo | None = None) -> Fit: ...


@dataclass(frozen=True)
class Estimator:
    """A registry entry: how to parse options for a method, how to fit it, and how far it is from an isometry.

    ``isometry_rank`` orders candidates for ``auto``'s tie-break: among near-equal scores the lowest rank wins,
    the simplest map, by what it fits to the anchor pairs. Every Procrustes scaling fits one orthogonal matrix,
    an isometry between the scaled spaces (the scalings, whitening included, are each space's own statistics,
    estimated without the pairing): rank 0, and among them the better score wins. A blend adds a ridge part
    (1 to 2), ridge fits a whole matrix (2.5 with its scale restored, 3), IRP a matrix per subspace (4).
    """

    options: type
    fit: FitFunction
    isometry_rank: Callable[[Any], float]


ESTIMATORS: dict[str, Estimator] = {
    "procrustes": Estimator(ProcrustesOptions, fit_procrustes, lambda o: 0.0),
    "blend": Estimator(BlendOptions, fit_blend, lambda o: 1.0 + o.weight),
    "ridge": Estimator(RidgeOptions, fit_ridge, lambda o: 2.5 if o.restore_scale else 3.0),
    "irp": Estimator(IRPOptions, fit_irp, lambda o: 4.0),
}
