"""The decoupled half of IRP: one space's relative projection and its inverse, fitted from that space alone.

A sender maps its vectors to cosines against the shared anchors (``to_relative``); a receiver maps such cosines
back into its own absolute space (``from_relative``). N spaces therefore need N projectors, not N^2
translators, and composing a sender with a receiver gives exactly the ``irp`` translator.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipeline.translate import functional as F
from pipeline.translate.checks import as_matrix, require_clean
from pipeline.translate.fingerprint import fingerprint_arrays
from pipeline.translate.options import IRPOptions, parse_options
from pipeline.translate.plan import AffinePlan


@dataclass(frozen=True, eq=False)
class RelativeProjector:
    """One space's anchors, centered and normalized, plus the inverse basis that undoes the projection.

    Attributes:
        mean: (d,) anchor mean, the center of the space.
        anchors_unit: (k, d) centered, normalized anchors.
        inverse: (k, d) basis P with ``y_unit ~= r @ P``; None when this space's anchors cannot support the
            chosen inverse (it can still send: ``to_relative`` needs no inverse).
        scale: mean distance of the anchors from their mean, restored after the inverse.
        options: the IRP options that shaped ``inverse``.
        anchors_fingerprint: sha256 of the anchors it was fitted on (see translators.anchors_fingerprint).
        report: fit diagnostics (condition numbers, pruned subset sizes, what the inverse was fitted on).
    """

    mean: np.ndarray
    anchors_unit: np.ndarray
    inverse: np.ndarray | None
    scale: float
    options: IRPOptions
    anchors_fingerprint: str
    report: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def fit(
        cls,
        anchors: object,
        *,
        receiver: bool = True,
        samples: object | None = None,
        samples_alpha: float = 1e-3,
        **options: Any,
    ) -> RelativeProjector:
        """Fit a projector from this space's anchors only.

        Args:
            anchors: (k, d) the shared anchor items embedded in this space, in the shared order.
            receiver: fit the inverse too; False makes a sender-only projector and skips that cost.
            samples: optional (m, d) unpaired vectors of this space. When given, the inverse is a ridge
                regression from their relative representation back to their direction, which is better
                conditioned than inverting the anchors (docs/concepts/method.md, step 5).
            samples_alpha: relative ridge penalty of that regression.
            **options: fields of :class:`IRPOptions` (used when ``samples`` is None).
        """
        irp = parse_options(IRPOptions, options, "irp")
        anchor_array = require_clean(anchors, "anchors")
        mean = F.anchor_mean(anchor_array)
        anchors_unit = F.center_normalize(anchor_array, mean)
        report: dict[str, Any] = {}
        if not receiver:
            inverse = None
            report["inverse_unavailable"] = "this projector was fitted as a sender only (receiver=False)"
        elif samples is not None:
            inverse = _inverse_from_samples(anchors_unit, mean, samples, samples_alpha, report)
        else:
            inverse = _inverse_from_anchors(anchors_unit, irp, report)
        if "anchor_condition_number" not in report:  # the plain inverse's SVD gives it for free
            report["anchor_condition_number"] = F.condition_number(anchors_unit)
        scale = F.mean_centered_norm(anchor_array, mean)
        return cls(mean, anchors_unit, inverse, scale, irp, fingerprint_arrays(anchor_array), report)

    @property
    def dim(self) -> int:
        return self.anchors_unit.shape[1]

    @property
    def n_anchors(self) -> int:
        return self.anchors_unit.shape[0]

    def require_inverse(self) -> np.ndarray:
        """The inverse basis, or the reason this projector cannot receive."""
        if self.inverse is None:
            raise ValueError(self.report["inverse_unavailable"])
        return self.inverse

    def to_relative(self, x: object) -> np.ndarray:
        """Cosines of ``x: (n, d)`` to the centered anchors, ``(n, k)`` float32. Used by a sender."""
        x_unit = F.center_normalize(require_clean(x, "x", self.dim), self.mean)
        return F.relative_projection(x_unit, self.anchors_unit).astype(np.float32)

    def from_relative(self, relative: object) -> np.ndarray:
        """Vectors of this space whose relative representation is ``relative: (n, k)``, as ``(n, d)`` float32."""
        r = as_matrix(relative, "relative")
        if r.shape[1] != self.n_anchors:
            raise ValueError(f"relative has {r.shape[1]} columns but this projector has {self.n_anchors} anchors")
        y_unit = r @ self.require_inverse()
        return F.restore_scale(y_unit, self.scale, self.mean, self.options.renormalize).astype(np.float32)


def compose_plan(source: RelativeProjector, target: RelativeProjector) -> AffinePlan:
    """Fuse ``target.from_relative(source.to_relative(x))`` into one affine plan.

    ``r = x_unit @ A_s^T`` and ``y_unit = r @ P_t``, so ``y_unit = x_unit @ (A_s^T P_t)``: a single
    ``(d_s, d_t)`` matrix between the source's pre step and the target's post step.
    """
    if source.n_anchors != target.n_anchors:
        raise ValueError(
            f"cannot compose projectors fitted on different anchor sets: {source.n_anchors} vs "
            f"{target.n_anchors} anchors"
        )
    return AffinePlan(
        in_shift=source.mean,
        in_normalize=True,
        matrix=source.anchors_unit.T @ target.require_inverse(),
        out_normalize=target.options.renormalize,
        out_scale=target.scale,
        out_shift=target.mean,
    )


def _inverse_from_anchors(anchors_unit: np.ndarray, options: IRPOptions, report: dict[str, Any]) -> np.ndarray | None:
    k, d = anchors_unit.shape
    if options.delta is None:
        if options.ridge == 0 and k < d + 1:
            report["inverse_unavailable"] = (
                f"the plain pseudo-inverse needs at least d+1 = {d + 1} anchors (centring costs one rank); got "
                f"{k}. Add anchors, prune with delta (e.g. 0.7), or set ridge > 0"
            )
            return None
        report["subset_sizes"] = [k]
        inverse, report["anchor_condition_number"] = F.inverse_relative_basis(anchors_unit, options.ridge)
        return inverse
    inverse, subsets, conditions = F.subspace_averaged_inverse(
        anchors_unit, options.delta, options.subspaces, options.ridge, options.seed, options.aspect_limit
    )
    report["subset_sizes"] = [len(s) for s in subsets]
    report["subset_condition_numbers"] = conditions
    return inverse


def _inverse_from_samples(
    anchors_unit: np.ndarray, mean: np.ndarray, samples: object, alpha: float, report: dict[str, Any]
) -> np.ndarray:
    sample_array = require_clean(samples, "samples", anchors_unit.shape[1])
    samples_unit = F.center_normalize(sample_array, mean)
    relative = F.relative_projection(samples_unit, anchors_unit)
    report.update(inverse_fitted_on="samples", n_samples=sample_array.shape[0], samples_alpha=alpha)
    return F.ridge_linear(relative, samples_unit, alpha)
