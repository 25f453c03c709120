"""The estimators: each fits paired anchors into an affine plan, registered in a plain dict by name.

An estimator takes validated float64 anchors ``source: (k, d_s)``, ``target: (k, d_t)`` and its parsed options,
and returns a :class:`Fit`. translators.py wraps a Fit with its provenance; auto.py compares estimators.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipeline.translate import functional as F
from pipeline.translate.options import (
    IRPOptions,
    ProcrustesOptions,
    RidgeOptions,
    as_dict,
)
from pipeline.translate.plan import AffinePlan
from pipeline.translate.projector import RelativeProjector, compose_plan


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


def fit_irp(source: np.ndarray, target: np.ndarray, options: IRPOptions) -> Fit:
    """Inverse relative projection, built literally as a sender projector composed with a receiver projector."""
    sender = RelativeProjector.fit(source, receiver=False, **as_dict(options))  # composing needs no inverse
    receiver = RelativeProjector.fit(target, **as_dict(options))
    report = {"source": dict(sender.report), "target": dict(receiver.report)}
    return Fit(compose_plan(sender, receiver), {"target_inverse": receiver.inverse}, report)


def fit_procrustes(source: np.ndarray, target: np.ndarray, options: ProcrustesOptions) -> Fit:
    """Standard scaling, zero padding, orthogonal map; folded into ``(x - mu_s) @ M + mu_t``.

    With ``x_std = (x - mu_s) / sigma_s`` and ``y = (pad(x_std) @ R)[:d_t] * sigma_t + mu_t``, the matrix is
    ``M = diag(1 / sigma_s) @ R[:d_s, :d_t] @ diag(sigma_t)``.
    """
    per_dimension = options.scaling == "per_dimension"
    source_mean, source_spread = F.standard_scaling(source, per_dimension)
    target_mean, target_spread = F.standard_scaling(target, per_dimension)
    source_std = (source - source_mean) / source_spread
    target_std = (target - target_mean) / target_spread
    rotation = F.procrustes_rotation(source_std, target_std)
    d_s, d_t = source.shape[1], target.shape[1]
    matrix = (rotation[:d_s, :d_t] / source_spread[:, None]) * target_spread[None, :]
    plan = AffinePlan(source_mean, False, matrix, False, 1.0, target_mean)
    width = rotation.shape[0]
    aligned = F.zero_pad(source_std, width) @ rotation
    residual = np.linalg.norm(aligned - F.zero_pad(target_std, width)) / np.linalg.norm(target_std)
    return Fit(plan, {"rotation": rotation}, {"relative_residual": float(residual)})


def fit_ridge(source: np.ndarray, target: np.ndarray, options: RidgeOptions) -> Fit:
    """Affine ridge regression ``y = (x - mu_s) @ W + mu_t`` (the intercept absorbs the means)."""
    weights, _ = F.ridge_affine(source, target, options.alpha)
    plan = AffinePlan(source.mean(axis=0), False, weights, False, 1.0, target.mean(axis=0))
    return Fit(plan)


@dataclass(frozen=True)
class Estimator:
    """A registry entry: how to parse options for a method and how to fit it."""

    options: type
    fit: Callable[[np.ndarray, np.ndarray, Any], Fit]


ESTIMATORS: dict[str, Estimator] = {
    "irp": Estimator(IRPOptions, fit_irp),
    "procrustes": Estimator(ProcrustesOptions, fit_procrustes),
    "ridge": Estimator(RidgeOptions, fit_ridge),
}
