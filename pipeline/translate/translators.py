"""Fitted translators behind one protocol, and ``fit_translator``, the front door of the translation core."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from pipeline.translate.auto import select_by_cross_validation
from pipeline.translate.checks import require_anchor_pair, require_clean
from pipeline.translate.estimators import ESTIMATORS
from pipeline.translate.fingerprint import fingerprint_arrays
from pipeline.translate.options import AutoOptions, as_dict, parse_options
from pipeline.translate.plan import AffinePlan


class Translator(Protocol):
    """Anything that maps ``(n, source_dim)`` vectors into another space as ``(n, target_dim)`` float32."""

    source_dim: int
    target_dim: int

    def transform(self, x: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True, eq=False)
class FittedTranslator:
    """A translator fitted from paired anchors, ready to apply and to save.

    Attributes:
        method: the estimator that produced the plan ("irp", "procrustes", "ridge"); under ``auto`` the winner,
            with the CV table in ``report["auto"]``.
        options: that estimator's options, as plain JSON values.
        plan: the fused form applied by :meth:`transform`.
        state: extra named arrays kept for inspection (e.g. the Procrustes rotation).
        report: diagnostics: condition numbers, subset sizes, CV scores.
        anchors_fingerprint: sha256 of the anchor tables it was fitted on.
    """

    method: str
    options: Mapping[str, Any]
    plan: AffinePlan
    state: Mapping[str, np.ndarray]
    report: Mapping[str, Any]
    anchors_fingerprint: str

    @property
    def source_dim(self) -> int:
        return self.plan.input_dim

    @property
    def target_dim(self) -> int:
        return self.plan.output_dim

    def transform(self, x: object) -> np.ndarray:
        """Translate ``x: (n, source_dim)`` into ``(n, target_dim)`` float32.

        Raises:
            ValueError: wrong dimension, or rows that are non-finite or zero (with their indices).
        """
        return self.plan.apply(require_clean(x, "x", self.source_dim, np.float32))


def list_methods() -> list[str]:
    """Names accepted by :func:`fit_translator`."""
    return [*ESTIMATORS, "auto"]


def method_options(method: str) -> type:
    """The frozen options dataclass of ``method``, which a config block is built into.

    Raises:
        ValueError: unknown method.
    """
    if method not in list_methods():
        raise ValueError(f"unknown translation method {method!r}; choose from {list_methods()}")
    return AutoOptions if method == "auto" else ESTIMATORS[method].options


def parse_method_options(method: str, options: Mapping[str, Any]) -> Any:
    """Check a method name and its options without fitting anything; returns the parsed options.

    Raises:
        ValueError, TypeError: unknown method, or every option problem (:class:`pipeline.strict.Invalid`).
    """
    return parse_options(method_options(method), options, method)


def fit_translator(
    source_anchors: object, target_anchors: object, method: str = "auto", **options: Any
) -> FittedTranslator:
    """Fit a translator from the same k anchor items embedded in both spaces.

    Args:
        source_anchors: (k, d_s) float array.
        target_anchors: (k, d_t) float array, row i the same item as ``source_anchors[i]``.
        method: one of :func:`list_methods`.
        **options: the chosen method's options (see options.py), checked strictly.

    Returns:
        A :class:`FittedTranslator`.

    Raises:
        ValueError, TypeError: bad anchors or options, all problems at once, before any fitting.
    """
    # Options first: they are cheap to check and their errors are the likeliest.
    parsed = parse_method_options(method, options)
    source, target = require_anchor_pair(source_anchors, target_anchors)
    if method == "auto":
        selection = select_by_cross_validation(source, target, parsed)
        method, parsed, fit = selection.method, selection.options, selection.fit
    else:
        fit = ESTIMATORS[method].fit(source, target, parsed)
    fingerprint = fingerprint_arrays(source, target)
    return FittedTranslator(method, as_dict(parsed), fit.plan, fit.state, fit.report, fingerprint)
