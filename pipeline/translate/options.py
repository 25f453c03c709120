"""Frozen, strictly parsed options of each estimator, with every problem reported at once."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, TypeVar

from pipeline import strict


@dataclass(frozen=True)
class IRPOptions:
    """Inverse relative projection (docs/concepts/method.md).

    The defaults prune and average subspaces, because the literal formula collapses on real encoder pairs.
    ``delta=None, subspaces=1, ridge=0`` is the paper's plain pseudo-inverse.

    Attributes:
        delta: farthest-point pruning threshold on ``1 - |cos|``; None keeps every anchor.
        subspaces: number of pruned subsets whose inverses are averaged (omega).
        ridge: Tikhonov weight of the inverse, on the scale of squared singular values of unit anchors.
        renormalize: normalize the inverse's output before restoring the target scale.
        seed: seeds the random starts of the pruning.
        aspect_limit: with pruning, a subset of s anchors in d dimensions whose ``min(s, d) / max(s, d)`` exceeds
            this is near square, ill-conditioned, and cut to its first ``aspect_limit * d`` anchors
            (functional.trim_near_square); None: only ``delta`` shapes the subsets. On BBC News, 800 articles
            and their titles as anchors, mpnet -> MiniLM-L6 (d = 384) kept 372-397 per subset, condition numbers
            775 to infinity, and the translated index found 0.07 of native Recall@10 (2 draws); with 0.4 it finds
            0.96, and 800 articles alone go from top-1 0.846 to 0.865. 0.4 did best of 0.2-0.9; the other way,
            MiniLM -> mpnet (d = 768), articles alone are left whole and articles + titles lose 0.002.
    """

    delta: float | None = 0.7
    subspaces: int = 32
    ridge: float = 0.0
    renormalize: bool = True
    seed: int = 0
    aspect_limit: float | None = 0.4

    def problems(self) -> list[str]:
        found = []
        if self.delta is not None and not 0.0 < self.delta <= 1.0:
            found.append(f"delta must be in (0, 1] or None; got {self.delta}")
        if self.subspaces < 1:
            found.append(f"subspaces must be >= 1; got {self.subspaces}")
        if self.delta is None and self.subspaces != 1:
            found.append("subspaces > 1 needs pruning: set delta (e.g. 0.7) or subspaces=1")
        if self.ridge < 0:
            found.append(f"ridge must be >= 0; got {self.ridge}")
        if self.aspect_limit is not None and not 0.0 < self.aspect_limit < 1.0:
            found.append(f"aspect_limit must be in (0, 1) or None; got {self.aspect_limit}")
        return found


@dataclass(frozen=True)
class ProcrustesOptions:
    """Orthogonal Procrustes after standard scaling (Maiorca et al. 2023).

    Attributes:
        scaling: "isotropic" divides each space by one shared spread (keeps rotations exact);
            "per_dimension" standardizes every coordinate on its own; "whitened" decorrelates each space with
            its anchors' shrunk covariance, rotates, and gives the result the target's covariance (whitening,
            orthogonal mapping, de-whitening: Artetxe et al., AAAI 2018). Directions a model barely uses weigh
            as much as its dominant ones in the rotation.
        shrinkage: "whitened" only: how far each covariance is shrunk towards the identity, relative to its mean
            eigenvalue (``functional.shrunk_whitening``); larger is closer to isotropic scaling.
        coloring: "whitened" only, in [0, 1]: how much of the target's anisotropy translations get back; below
            1 they are scaled to the target anchors' spread around the target mean. 1 (the default) gives them the
            target's covariance, which is what a classifier, a native query and native rows beside them in an
            index expect. Less helps where translations are the queries and the index is native: on BBC News
            (800 anchors) 0.5 found each translated article's own native vector top-1 0.951 and 0.942 where 1 finds
            0.946 and 0.934, and ``auto``'s ``retrieval`` objective tries 0.5. But native queries then find their
            translated articles less often (0.946 against 0.954 MiniLM->mpnet), and among 700 native rows of the
            same index far less often (0.543 against 0.721): a translated index keeps 1 (``auto``'s ``index``).
    """

    scaling: str = "isotropic"
    shrinkage: float = 1.0
    coloring: float = 1.0
    retired_keys: ClassVar[Mapping[str, str]] = {"colouring": "coloring"}  # one spelling: American

    def unused(self) -> tuple[str, ...]:
        """Settings this scaling ignores, left out of reports and artifacts."""
        return () if self.scaling == "whitened" else ("shrinkage", "coloring")

    def problems(self) -> list[str]:
        found = []
        if self.scaling not in SCALINGS:
            found.append(f"scaling must be one of {', '.join(map(repr, SCALINGS))}; got {self.scaling!r}")
        if not self.shrinkage > 0:
            found.append(f"shrinkage must be > 0; got {self.shrinkage}")
        if not 0.0 <= self.coloring <= 1.0:
            found.append(f"coloring must be in [0, 1]; got {self.coloring}")
        return found


SCALINGS = ("isotropic", "per_dimension", "whitened")


@dataclass(frozen=True)
class RidgeOptions:
    """Affine least squares with an L2 penalty relative to the source's energy (functional.ridge_affine).

    Attributes:
        alpha: the penalty, relative to the source's average per-coordinate energy.
        restore_scale: give every prediction the target anchors' mean distance from the target mean. Ridge
            shrinks predictions towards the mean, which blurs neighbors under the raw cosine a vector store
            ranks by; this keeps each prediction's direction from the mean and restores its radius.
    """

    alpha: float = 1e-2
    restore_scale: bool = False

    def problems(self) -> list[str]:
        return [] if self.alpha >= 0 else [f"alpha must be >= 0; got {self.alpha}"]


@dataclass(frozen=True)
class BlendOptions:
    """A weighted mean of the ridge and Procrustes maps of the same anchors; both are affine, so is the blend.

    Procrustes keeps the geometry (an isometry up to scale) and ridge fits the anchors more closely; a blend
    trades between the two.

    Attributes:
        weight: the ridge map's share, in [0, 1] (0 is Procrustes, 1 is ridge).
        alpha: the ridge penalty (see :class:`RidgeOptions`).
        scaling: the Procrustes standard scaling (see :class:`ProcrustesOptions`; "whitened" takes its defaults).
    """

    weight: float = 0.5
    alpha: float = 0.1
    scaling: str = "isotropic"

    def problems(self) -> list[str]:
        found = [] if 0.0 <= self.weight <= 1.0 else [f"weight must be in [0, 1]; got {self.weight}"]
        found += RidgeOptions(self.alpha).problems() + ProcrustesOptions(self.scaling).problems()
        return found


@dataclass(frozen=True)
class AutoOptions:
    """K-fold cross-validation over the anchors to pick an estimator and its options.

    Attributes:
        objective: what the translations are for, and so what cross-validation scores and compares.
            ``retrieval`` (the default): they are queries searching a native index, or looking up their native
            match; the score is the MRR of each held-out anchor's own target vector among all target anchors,
            under raw cosine. ``index``: they become rows of an index that native queries search, beside natively
            embedded rows; the same score, among maps whose translations keep the target's covariance (the
            whitened candidate fully colored; see ``ProcrustesOptions.coloring``). The jobs that write
            translated tables (``translate_corpus``, ``sync``) use it unless the config names an objective.
            ``classification``: how well the target's own decoders survive; ``cosine``: centered cosine to the
            true vectors.
        folds: number of folds; every anchor is held out once per repeat.
        repeats: how many different partitions into folds are scored, each shuffled by its own seed; every
            metric averages over all ``repeats * folds`` folds. Which anchors share a fold moves a candidate's
            mean: on 800 BBC News anchors the MRR gap between two Procrustes scalings ranged from -0.001 to
            +0.009 over six partitions. With two (the default) ``auto`` chose its best candidate, whitened Procrustes
            half colored, in all 10 draws (5 each way); with one, isotropic Procrustes took one. Each repeat costs
            one more CV.
        seed: seeds the fold assignments.
        candidates: estimator settings to compare, each a mapping with a ``method`` key plus that method's
            options, e.g. ``{"method": "irp", "delta": 0.6}``; None uses ``auto.default_candidates(objective)``.
    """

    objective: Literal["retrieval", "index", "classification", "cosine"] = "retrieval"
    folds: int = 5
    repeats: int = 2
    seed: int = 0
    candidates: tuple[Mapping[str, Any], ...] | None = None

    def __post_init__(self) -> None:
        if isinstance(self.candidates, list):  # YAML gives lists; keep the frozen value hashable-ish
            object.__setattr__(self, "candidates", tuple(self.candidates))

    def problems(self) -> list[str]:
        found = [] if self.folds >= 2 else [f"folds must be >= 2; got {self.folds}"]
        found += [] if self.repeats >= 1 else [f"repeats must be >= 1; got {self.repeats}"]
        if self.candidates is not None:
            if not self.candidates:
                found.append("candidates must not be empty (or None for the default grid)")
            found += [
                f"candidate {i} must be a mapping with a 'method' key; got {candidate!r}"
                for i, candidate in enumerate(self.candidates)
                if not isinstance(candidate, Mapping) or "method" not in candidate
            ]
        return found


Options = TypeVar("Options")


def parse_options(kind: type[Options], given: Mapping[str, Any], method: str) -> Options:
    """Build ``kind`` from user options, checking names, types and values together (:func:`pipeline.strict.parse`).

    Raises:
        pipeline.strict.Invalid: a TypeError and ValueError listing every problem.
    """
    return strict.parse(kind, given, f"options for {method!r}")


def as_dict(options: object) -> dict[str, Any]:
    """JSON-ready dict of an options dataclass, without what its other settings leave unused (its ``unused()``)."""
    if not dataclasses.is_dataclass(options) or isinstance(options, type):
        raise TypeError(f"as_dict() needs an options dataclass instance; got {type(options).__name__}")
    unused = options.unused() if hasattr(options, "unused") else ()
    return {key: value for key, value in dataclasses.asdict(options).items() if key not in unused}
