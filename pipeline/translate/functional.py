"""Plain functions of the translation math: relative projection, its inverse, pruning, Procrustes, ridge.

Everything here is pure numpy in float64, with no state, IO or Ray. Shapes follow docs/concepts/method.md: anchors
``A`` are ``(k, d)``, inputs ``x`` are ``(n, d)``. Fitted translators (translators.py) compose these into one
affine plan; tests compare that plan against these functions and against float64 oracles.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Singular values below this fraction of the largest are treated as zero by the pseudo-inverse. It matches
# numpy's default scale (eps * max(k, d)) closely enough for k, d in the thousands while being stable to state.
PINV_RCOND = 1e-10


def anchor_mean(anchors: np.ndarray) -> np.ndarray:
    """Mean of the anchors, the center of a space.  ``anchors: (k, d) -> (d,)``."""
    return anchors.mean(axis=0)


def center_normalize(x: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """Center rows on ``mean`` and scale them to unit length.

    Args:
        x: (n, d) vectors.
        mean: (d,) center of the space (its anchors' mean).

    Returns:
        (n, d) unit rows.

    Raises:
        ValueError: a row equals the center, so it has no direction.
    """
    centered = x - mean
    norms = np.linalg.norm(centered, axis=1, keepdims=True)
    degenerate = np.flatnonzero(norms[:, 0] == 0)
    if degenerate.size:
        raise ValueError(
            f"{degenerate.size} row(s) equal the anchor mean and have no direction (first: {degenerate[:5].tolist()}); "
            "drop or quarantine them"
        )
    return centered / norms


def mean_centered_norm(anchors: np.ndarray, mean: np.ndarray) -> float:
    """The space's typical radius s = mean ||a_i - mu||, used to restore scale after the inverse."""
    return float(np.linalg.norm(anchors - mean, axis=1).mean())


def relative_projection(x_unit: np.ndarray, anchors_unit: np.ndarray) -> np.ndarray:
    """Cosines of centered, normalized inputs to centered, normalized anchors.

    Args:
        x_unit: (n, d) output of :func:`center_normalize`.
        anchors_unit: (k, d) anchors passed through the same function.

    Returns:
        (n, k) relative representation. It is deliberately not normalized (docs/concepts/method.md, step 2).
    """
    return x_unit @ anchors_unit.T


def singular_values(matrix: np.ndarray) -> np.ndarray:
    """Singular values in descending order.  ``matrix: (m, n) -> (min(m, n),)``."""
    return np.linalg.svd(matrix, compute_uv=False)


def condition_number(matrix: np.ndarray) -> float:
    """Ratio of the largest to the smallest singular value; ``inf`` when the matrix is rank deficient."""
    return condition_of(singular_values(matrix))


def condition_of(values: np.ndarray) -> float:
    """:func:`condition_number` from singular values already computed, in descending order."""
    if values[-1] <= values[0] * np.finfo(np.float64).eps:
        return float("inf")
    return float(values[0] / values[-1])


def inverse_relative_basis(anchors_unit: np.ndarray, ridge: float = 0.0) -> tuple[np.ndarray, float]:
    """The matrix P with y_unit ~= r @ P, solving ``y_unit @ anchors_unit.T ~= r`` by least squares.

    With ``ridge == 0`` this is the pseudo-inverse of ``anchors_unit.T``; with ``ridge > 0`` it is the Tikhonov
    solution ``argmin ||y A^T - r||^2 + ridge * ||y||^2``. Both come from one SVD ``A = U S V^T``:
    ``P = U diag(s / (s^2 + ridge)) V^T``.

    Args:
        anchors_unit: (k, d) centered, normalized anchors.
        ridge: Tikhonov weight, >= 0, on the scale of squared singular values.

    Returns:
        ((k, d) inverse basis, condition number of ``anchors_unit`` from the same SVD).
    """
    u, s, vt = np.linalg.svd(anchors_unit, full_matrices=False)
    if ridge > 0:
        gain = s / (s**2 + ridge)
    else:
        keep = s > s[0] * PINV_RCOND
        gain = np.where(keep, 1.0 / np.where(keep, s, 1.0), 0.0)
    return (u * gain) @ vt, condition_of(s)


def farthest_point_subset(anchors_unit: np.ndarray, delta: float, start: int) -> np.ndarray:
    """Greedy farthest-point sampling of anchors under the distance ``1 - |cos(a_i, a_j)|``.

    Starting from ``start``, repeatedly add the anchor farthest from the chosen set, and stop once the best
    remaining distance falls below ``delta``. Near-parallel anchors are what make the inverse ill-conditioned,
    so the kept set is better conditioned than the whole.

    Args:
        anchors_unit: (k, d) unit rows.
        delta: stopping distance in [0, 1]; larger keeps fewer, more orthogonal anchors.
        start: index of the first anchor.

    Returns:
        (s,) indices of the chosen anchors, in the order they were chosen.
    """
    chosen = [start]
    distance_to_set = 1.0 - np.abs(anchors_unit @ anchors_unit[start])
    distance_to_set[start] = -np.inf
    while True:
        best = int(np.argmax(distance_to_set))
        if distance_to_set[best] < delta:
            break
        chosen.append(best)
        distance_to_set = np.minimum(distance_to_set, 1.0 - np.abs(anchors_unit @ anchors_unit[best]))
        distance_to_set[chosen] = -np.inf
    return np.asarray(chosen, dtype=np.int64)


def trim_near_square(subset: np.ndarray, dim: int, aspect_limit: float | None) -> np.ndarray:
    """Cut a pruned subset whose basis is near square to its first ``aspect_limit * dim`` anchors.

    s anchors in d dimensions form an (s, d) basis whose smallest singular value falls towards 0 as s nears d:
    for random rows the condition number is about ``(1 + sqrt(r)) / (1 - sqrt(r))`` with the aspect ratio
    ``r = min(s, d) / max(s, d)`` (Marchenko-Pastur). Pruning keeps anchors pairwise ``delta`` apart, and in a
    space of few dimensions that can still be nearly d of them. Farthest-point order puts the most spread
    anchors first, so the cut keeps those.

    Args:
        subset: (s,) anchor indices in the order :func:`farthest_point_subset` chose them.
        dim: d, the dimension of the space.
        aspect_limit: in (0, 1): the largest ratio ``r`` kept whole; None keeps every subset whole.

    Returns:
        ``subset`` or its first ``max(2, int(aspect_limit * dim))`` indices.
    """
    size = len(subset)
    if aspect_limit is None or min(size, dim) / max(size, dim) <= aspect_limit:
        return subset
    return subset[: max(2, int(aspect_limit * dim))]


def subspace_averaged_inverse(
    anchors_unit: np.ndarray,
    delta: float,
    subspaces: int,
    ridge: float,
    seed: int,
    aspect_limit: float | None = None,
) -> tuple[np.ndarray, list[np.ndarray], list[float]]:
    """Average the inverse bases of ``subspaces`` pruned anchor subsets (docs/concepts/method.md, step 5).

    Each subset is a farthest-point sample from a different random start. Its inverse basis fills the rows of
    the anchors it kept; the rows of pruned anchors are zero, so their cosines are ignored.

    Args:
        anchors_unit: (k, d) centered, normalized anchors.
        delta: pruning threshold of :func:`farthest_point_subset`.
        subspaces: number of subsets to average (omega).
        ridge: Tikhonov weight passed to :func:`inverse_relative_basis`.
        seed: seeds the random starts.
        aspect_limit: near-square subsets are cut (:func:`trim_near_square`); None keeps them whole.

    Returns:
        ((k, d) averaged inverse basis, the index array of each subset, each subset's condition number).
    """
    k, d = anchors_unit.shape
    starts = np.random.default_rng(seed).choice(k, size=subspaces, replace=subspaces > k)
    basis = np.zeros_like(anchors_unit)
    subsets, conditions = [], []
    for start in starts:
        subset = trim_near_square(farthest_point_subset(anchors_unit, delta, int(start)), d, aspect_limit)
        subset_basis, condition = inverse_relative_basis(anchors_unit[subset], ridge)
        basis[subset] += subset_basis
        subsets.append(subset)
        conditions.append(condition)
    return basis / subspaces, subsets, conditions


def restore_scale(y_unit: np.ndarray, scale: float, mean: np.ndarray, renormalize: bool) -> np.ndarray:
    """Map inverse outputs back to absolute coordinates: ``normalize(y) * scale + mean``.

    Args:
        y_unit: (n, d) output of the inverse, approximately unit length.
        scale: target radius (:func:`mean_centered_norm`).
        mean: (d,) target center.
        renormalize: normalize rows first (the default of IRP); otherwise only scale and shift.

    Returns:
        (n, d) vectors in the target's absolute space.
    """
    if renormalize:
        y_unit = y_unit / np.linalg.norm(y_unit, axis=1, keepdims=True)
    return y_unit * scale + mean


def standard_scaling(anchors: np.ndarray, per_dimension: bool) -> tuple[np.ndarray, np.ndarray]:
    """Center and scale statistics of a space for Procrustes (Maiorca et al. 2023).

    Args:
        anchors: (k, d).
        per_dimension: one standard deviation per coordinate (classic standard scaling) or one shared
            value (the root-mean-square deviation), which keeps the geometry rotation-equivariant.

    Returns:
        ((d,) mean, (d,) scale), with scale > 0.
    """
    mean = anchors.mean(axis=0)
    spread = anchors.std(axis=0)
    if not per_dimension:
        spread = np.full_like(spread, np.sqrt(np.mean(spread**2)))
    # A constant coordinate carries no information; leave it unscaled instead of dividing by zero.
    return mean, np.where(spread > 0, spread, 1.0)


def covariance_spectrum(centered: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (clipped at 0) and eigenvectors of ``C = X^T X / k`` for ``centered: (k, d)``: ``(d,), (d, d)``.

    Raises:
        ValueError: the anchors do not vary at all.
    """
    values, vectors = np.linalg.eigh(centered.T @ centered / len(centered))
    values = np.clip(values, 0.0, None)
    if values.sum() == 0:
        raise ValueError("whitening needs anchors that vary; every anchor is the same vector")
    return values, vectors


def shrunk_whitening(
    spectrum: tuple[np.ndarray, np.ndarray], shrinkage: float, coloring: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Whitening and coloring matrices of a space from its covariance spectrum, the covariance shrunk.

    The covariance is shrunk towards a multiple of the identity, ``C + shrinkage * mean(eig C) I``: a few hundred
    anchors estimate a 768-d covariance poorly, its smallest eigenvalues most poorly, and a plain inverse square
    root would blow those noise directions up. ``shrinkage -> inf`` tends to isotropic scaling.

    Args:
        spectrum: :func:`covariance_spectrum` of the space's centered anchors.
        shrinkage: > 0, relative to the mean eigenvalue.
        coloring: in [0, 1], how much of the space's anisotropy the coloring matrix gives back: 1 is the
            full square root, 0 none (the identity).

    Returns:
        ((d, d) ``C_s^(-1/2)``, (d, d) ``C_s^(coloring/2)``), both symmetric.
    """
    values, vectors = spectrum
    values = values + shrinkage * values.mean()
    return (vectors / np.sqrt(values)) @ vectors.T, (vectors * values ** (coloring / 2)) @ vectors.T


def procrustes_rotation(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Orthogonal R minimizing ||source_pad @ R - target_pad||, both zero-padded to a common dimension.

    Args:
        source: (k, d_s) standardized source anchors.
        target: (k, d_t) standardized target anchors.

    Returns:
        (D, D) orthogonal matrix with D = max(d_s, d_t); translate with ``pad(x) @ R`` then keep d_t columns.
    """
    width = max(source.shape[1], target.shape[1])
    cross = zero_pad(source, width).T @ zero_pad(target, width)
    u, _, vt = np.linalg.svd(cross)
    return u @ vt


def zero_pad(x: np.ndarray, width: int) -> np.ndarray:
    """Append zero columns to ``x: (n, d)`` up to ``(n, width)``."""
    return np.pad(x, ((0, 0), (0, width - x.shape[1])))


def ridge_affine(source: np.ndarray, target: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Affine least squares ``target ~= source @ W + b`` with an L2 penalty on W.

    The penalty is ``alpha * trace(Xc^T Xc) / d_s``, i.e. relative to the source's average per-coordinate
    energy, so one alpha grid serves spaces of any scale.

    Args:
        source: (k, d_s).
        target: (k, d_t).
        alpha: relative regularization, >= 0.

    Returns:
        ((d_s, d_t) W, (d_t,) b).
    """
    source_mean, target_mean = source.mean(axis=0), target.mean(axis=0)
    weights = ridge_linear(source - source_mean, target - target_mean, alpha)
    return weights, target_mean - source_mean @ weights


def ridge_linear(source: np.ndarray, target: np.ndarray, alpha: float) -> np.ndarray:
    """Linear least squares ``target ~= source @ W`` with penalty ``alpha * trace(X^T X) / d_s * ||W||^2``.

    Args:
        source: (m, d_s).
        target: (m, d_t).
        alpha: relative regularization, >= 0; 0 gives the minimum-norm solution.

    Returns:
        (d_s, d_t) W.
    """
    return RidgePath.fit(source, target).weights(alpha)


@dataclass(frozen=True, eq=False)
class RidgePath:
    """One eigendecomposition of ``X^T X`` that gives the ridge solution for any alpha with two matmuls.

    Cross-validation compares several alphas on the same fold; solving each from scratch costs a cubic
    factorisation per alpha, this costs one.

    Attributes:
        eigenvalues: (d_s,) of ``X^T X``, ascending, clipped at 0.
        eigenvectors: (d_s, d_s) their columns.
        cross: (d_s, d_t) ``eigenvectors^T X^T Y``.
    """

    eigenvalues: np.ndarray
    eigenvectors: np.ndarray
    cross: np.ndarray

    @classmethod
    def fit(cls, source: np.ndarray, target: np.ndarray) -> RidgePath:
        """``source: (m, d_s)``, ``target: (m, d_t)``, both already centered when an intercept is wanted."""
        values, vectors = np.linalg.eigh(source.T @ source)
        return cls(np.clip(values, 0.0, None), vectors, vectors.T @ (source.T @ target))

    def weights(self, alpha: float) -> np.ndarray:
        """(d_s, d_t) W for a relative penalty ``alpha`` (see :func:`ridge_linear`)."""
        penalty = alpha * self.eigenvalues.sum() / len(self.eigenvalues)
        scaled = self.eigenvalues + penalty
        # alpha = 0 on a rank-deficient source: the minimum-norm solution, as a pseudo-inverse would give.
        floor = max(scaled.max(), 1e-300) * len(scaled) * np.finfo(np.float64).eps
        inverse = np.where(scaled > floor, 1.0 / np.where(scaled > floor, scaled, 1.0), 0.0)
        return self.eigenvectors @ (inverse[:, None] * self.cross)
