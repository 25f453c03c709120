"""How close translations are to the truth: centered cosine and retrieval ranks under raw or centered cosine.

Shared by ``auto``'s cross-validation and the evaluation reports, so both score a translation the same way.
Raw cosine is what a vector store ranks by; centered cosine removes the space's mean direction first.
"""

from __future__ import annotations

import numpy as np


def centered_cosine(predicted: np.ndarray, truth: np.ndarray, center: np.ndarray) -> np.ndarray:
    """Row-wise cosine after removing ``center`` from both.  ``(n, d), (n, d), (d,) -> (n,)``.

    Raw cosines between embeddings of one model are inflated by the shared mean direction; centring removes it,
    so 0 means "no better than the mean" (the collapse of docs/concepts/method.md, step 5).
    """
    p, t = predicted - center, truth - center
    return np.sum(p * t, axis=1) / (np.linalg.norm(p, axis=1) * np.linalg.norm(t, axis=1))


def gallery_ranks(
    predicted: np.ndarray, gallery: np.ndarray, rows: np.ndarray, center: np.ndarray | None = None
) -> np.ndarray:
    """Rank (1 = nearest) of each prediction's own vector among a whole gallery, by cosine.

    Args:
        predicted: (n, d) translated vectors (or queries).
        gallery: (m, d) the vectors searched, e.g. an index of true target vectors.
        rows: (n,) int, the gallery row each prediction should find.
        center: (d,) removed from both before comparing; None compares raw cosines, as a vector store does.

    Returns:
        (n,) int ranks. Ties count against the truth, so a constant prediction does not score.
    """
    if center is not None:
        predicted, gallery = predicted - center, gallery - center
    p = predicted / np.linalg.norm(predicted, axis=1, keepdims=True)
    g = gallery / np.linalg.norm(gallery, axis=1, keepdims=True)
    similarity = p @ g.T
    own = similarity[np.arange(len(rows)), rows]
    return np.sum(similarity >= own[:, None], axis=1)


def truth_ranks(predicted: np.ndarray, truth: np.ndarray, center: np.ndarray | None = None) -> np.ndarray:
    """Rank of each row's own true vector among all truths (``truth[i]`` matches ``predicted[i]``).

    See :func:`gallery_ranks`: ``(n, d), (n, d) -> (n,)`` ranks, by centered cosine when ``center`` is given.
    """
    return gallery_ranks(predicted, truth, np.arange(len(truth)), center)


def top_k_retrieval(predicted: np.ndarray, truth: np.ndarray, center: np.ndarray | None = None, k: int = 1) -> float:
    """Share of rows whose own truth is among the ``k`` nearest to their prediction (see :func:`truth_ranks`)."""
    return float(np.mean(truth_ranks(predicted, truth, center) <= k))


def cluster_centers(vectors: np.ndarray, clusters: int, seed: int, iterations: int = 10) -> np.ndarray:
    """``clusters`` k-means centers of ``vectors: (n, d)`` (k-means++ start, seeded): ``(clusters, d)``.

    Regions of a space stand in for the classes its decoders separate, when no labels are at hand.
    """
    rng = np.random.default_rng(seed)
    squared = (vectors**2).sum(axis=1)
    chosen = [int(rng.integers(len(vectors)))]
    distance = np.full(len(vectors), np.inf)
    for _ in range(1, clusters):
        last = vectors[chosen[-1]]
        distance = np.minimum(distance, squared - 2 * vectors @ last + last @ last)
        weights = np.clip(distance, 0.0, None)
        total = weights.sum()
        chosen.append(int(rng.choice(len(vectors), p=weights / total) if total > 0 else rng.integers(len(vectors))))
    centers = vectors[chosen].copy()
    for _ in range(iterations):
        assigned = nearest(vectors, centers)
        counts = np.bincount(assigned, minlength=clusters)
        sums = np.zeros_like(centers)
        np.add.at(sums, assigned, vectors)
        filled = counts > 0  # an empty cluster keeps its center
        centers[filled] = sums[filled] / counts[filled, None]
    return centers


def nearest(vectors: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """``(n,)`` index of the nearest center (Euclidean) of each row of ``vectors: (n, d)``."""
    return np.argmin((centers**2).sum(axis=1)[None, :] - 2 * vectors @ centers.T, axis=1)
