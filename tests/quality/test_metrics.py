"""Evaluation metrics against hand-computed values, and the split protocol."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.quality.metrics import evaluate_translation, make_split, translation_metrics


def test_translation_metrics_by_hand():
    center = np.zeros(2)
    truth = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    predicted = np.array([[2.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    metrics = translation_metrics(predicted, truth, center)
    # cosines to own truth: 1, 1/sqrt(2), 0
    assert metrics["cosine"] == pytest.approx((1 + 2**-0.5 + 0) / 3)
    assert metrics["centered_cosine"] == pytest.approx(metrics["cosine"])
    # squared errors: (1,0) -> 1; (1,0) -> 1; (1,1) -> 2; over 6 entries
    assert metrics["mse"] == pytest.approx(4 / 6)
    # row 0 ranks its truth 1st; row 1: cos to truths [.71, .71, -.71] -> tie counts against: rank 2;
    # row 2 (0,1): cos [0, 1, 0] -> own truth (-1,0) ties with truth 0, beaten by truth 1: rank 3
    assert metrics["top1"] == pytest.approx(1 / 3)
    assert metrics["top10"] == pytest.approx(1.0)
    assert metrics["mrr"] == pytest.approx((1 + 1 / 2 + 1 / 3) / 3)


def test_split_is_disjoint_and_anchors_come_from_train():
    split = make_split(100, n_anchors=30, n_test=20, seed=3)
    assert len(split.test) == 20 and len(split.train) == 80 and len(split.anchors) == 30
    assert not set(split.test) & set(split.train)
    assert set(split.anchors) <= set(split.train)
    assert np.array_equal(make_split(100, 30, 20, seed=3).anchors, split.anchors)
    with pytest.raises(ValueError, match="cannot hold"):
        make_split(40, n_anchors=30, n_test=20)


def test_evaluate_translation_on_a_rotated_copy_keeps_all_accuracy():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 100)
    source = rng.normal(size=(300, 8)) + 3.0 * np.eye(3, 8)[labels]
    rotation, _ = np.linalg.qr(rng.normal(size=(8, 8)))
    target = 2.0 * source @ rotation + 1.0
    row = evaluate_translation(source, target, labels, make_split(300, 100, 100), "procrustes")
    assert row["centered_cosine"] == pytest.approx(1.0, abs=1e-5)
    assert row["top1"] == 1.0
    assert row["stitched_accuracy"] == row["native_accuracy"] and row["accuracy_ratio"] == 1.0
