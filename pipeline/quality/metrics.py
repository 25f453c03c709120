"""Quality of a translation on labeled data: geometry, retrieval and stitched decoder accuracy.

The protocol (docs/concepts/method.md, "What to expect"): split a labeled corpus embedded in both spaces into train
and test, take the anchors from the train split, fit the translator on them, translate the source test vectors, and
compare them with the true target test vectors. A decoder trained on the target's own train embeddings then
classifies the translated test vectors ("stitched") and the native ones; the ratio is how much accuracy survives
translation.
Needs the ``eval`` extra (scikit-learn) for the decoder.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline.quality.decoders import train_logistic
from pipeline.translate import fit_translator
from pipeline.translate import scores as S


@dataclass(frozen=True)
class Split:
    """Row indices of a labeled corpus: decoder training rows, the anchors among them, and test rows."""

    train: np.ndarray
    anchors: np.ndarray
    test: np.ndarray


def make_split(n: int, n_anchors: int, n_test: int, seed: int = 0) -> Split:
    """Random disjoint test rows; anchors drawn from the remaining (train) rows.

    Raises:
        ValueError: the corpus is too small for the requested sizes.
    """
    if n_test + n_anchors > n:
        raise ValueError(f"{n} rows cannot hold {n_test} test rows and {n_anchors} anchors from the rest")
    order = np.random.default_rng(seed).permutation(n)
    test, train = np.sort(order[:n_test]), np.sort(order[n_test:])
    anchors = np.sort(np.random.default_rng(seed + 1).choice(train, size=n_anchors, replace=False))
    return Split(train, anchors, test)


def translation_metrics(predicted: np.ndarray, truth: np.ndarray, center: np.ndarray) -> dict[str, float]:
    """Geometry and retrieval of translated vectors against the true ones.

    Args:
        predicted: (n, d) translated vectors.
        truth: (n, d) the same items embedded natively in the target space.
        center: (d,) target center (the anchor mean) for the centered metrics.

    Returns:
        centered_cosine, cosine, mse, and top1/top10/mrr of finding each item's own true vector among all n under
        raw cosine, as a vector store searches.
    """
    predicted, truth = predicted.astype(np.float64), truth.astype(np.float64)
    plain = np.sum(predicted * truth, axis=1) / (np.linalg.norm(predicted, axis=1) * np.linalg.norm(truth, axis=1))
    ranks = S.truth_ranks(predicted, truth)  # one (n, n) similarity pass serves all three rank metrics
    return {
        "centered_cosine": float(S.centered_cosine(predicted, truth, center).mean()),
        "cosine": float(plain.mean()),
        "mse": float(np.mean((predicted - truth) ** 2)),
        "top1": float(np.mean(ranks <= 1)),
        "top10": float(np.mean(ranks <= 10)),
        "mrr": float(np.mean(1.0 / ranks)),
    }


def retrieval_metrics(queries: np.ndarray, documents: np.ndarray) -> dict[str, float]:
    """Recall@1, Recall@10 and MRR of query i finding document i among all documents, under raw cosine.

    Args:
        queries: (n, d) query vectors.
        documents: (n, d) the index, row i the one document relevant to query i.
    """
    ranks = S.truth_ranks(queries.astype(np.float64), documents.astype(np.float64))
    return {
        "recall1": float(np.mean(ranks <= 1)),
        "recall10": float(np.mean(ranks <= 10)),
        "mrr": float(np.mean(1.0 / ranks)),
    }


def macro_f1(predicted: np.ndarray, labels: np.ndarray) -> float:
    """Unweighted mean over the classes present in ``labels`` or ``predicted`` of each class's F1.

    A class never predicted and absent from ``labels`` does not exist here; one with no true positives scores 0.
    """
    scores = []
    for label in np.union1d(labels, predicted):
        true_positive = np.sum((predicted == label) & (labels == label))
        claimed, actual = np.sum(predicted == label), np.sum(labels == label)
        scores.append(0.0 if true_positive == 0 else 2 * true_positive / (claimed + actual))
    return float(np.mean(scores))


def evaluate_translation(
    source: np.ndarray,
    target: np.ndarray,
    labels: np.ndarray,
    split: Split,
    method: str,
    options: Mapping[str, Any] | None = None,
    decoder=None,
) -> dict[str, Any]:
    """Fit on the split's anchors, translate the test rows, and score them (module docstring).

    Args:
        source: (n, d_s) the corpus in the source space.
        target: (n, d_t) the same rows in the target space.
        labels: (n,) class of each row.
        split: which rows are train, anchors and test.
        method, options: passed to :func:`fit_translator`.
        decoder: a classifier already trained on ``target[split.train]``; trained here when None.

    Returns:
        The :func:`translation_metrics`, native and stitched accuracy, their ratio, and the translator's method
        and options (the winner's, under ``auto``).
    """
    translator = fit_translator(source[split.anchors], target[split.anchors], method, **dict(options or {}))
    translated = translator.transform(source[split.test])
    decoder = decoder or train_logistic(target[split.train], labels[split.train])
    center = target[split.anchors].mean(axis=0)
    return {
        "method": translator.method,
        "options": dict(translator.options),
        **score_translation(translated, target[split.test], labels[split.test], decoder, center),
    }


def score_translation(
    translated: np.ndarray, truth: np.ndarray, labels: np.ndarray, decoder, center: np.ndarray
) -> dict[str, float]:
    """How well translated vectors stand in for the target's own: geometry, retrieval and the target's decoder.

    Args:
        translated: (n, d) vectors translated into the target space.
        truth: (n, d) the same items embedded by the target model.
        labels: (n,) their classes.
        decoder: a classifier trained on the target's own embeddings.
        center: (d,) target center (the anchor mean) for the centered metrics.

    Returns:
        The :func:`translation_metrics`, plus native and stitched accuracy and macro-F1, and their ratios.
    """
    native, stitched = decoder.predict(truth), decoder.predict(translated)
    native_accuracy, stitched_accuracy = float(np.mean(native == labels)), float(np.mean(stitched == labels))
    native_f1, stitched_f1 = macro_f1(native, labels), macro_f1(stitched, labels)
    return {
        **translation_metrics(translated, truth, center),
        "native_accuracy": native_accuracy,
        "stitched_accuracy": stitched_accuracy,
        "accuracy_ratio": stitched_accuracy / native_accuracy,
        "native_macro_f1": native_f1,
        "stitched_macro_f1": stitched_f1,
        "macro_f1_ratio": stitched_f1 / native_f1,
    }
