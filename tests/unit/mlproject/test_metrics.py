import numpy as np
import pytest

from mlproject.evaluate import compute_metrics, roc_points

CLASSES = ["a", "b", "c"]


def test_metrics_match_a_hand_computed_example():
    truth = np.array(["a", "a", "b", "c"])
    predicted = np.array(["a", "b", "b", "c"])
    probabilities = np.array([[0.8, 0.1, 0.1], [0.4, 0.5, 0.1], [0.2, 0.7, 0.1], [0.1, 0.1, 0.8]])
    metrics = compute_metrics(truth, predicted, probabilities, CLASSES)
    assert metrics["accuracy"] == 0.75
    # F1: a = 2/3 (precision 1, recall 1/2), b = 2/3 (precision 1/2, recall 1), c = 1
    assert metrics["macro_f1"] == round((2 / 3 + 2 / 3 + 1) / 3, 6)
    expected_loss = -np.mean(np.log([0.8, 0.4, 0.7, 0.8]))
    assert metrics["log_loss"] == pytest.approx(expected_loss, abs=1e-6)
    assert metrics["precision"] == {"a": 1.0, "b": 0.5, "c": 1.0}
    assert metrics["recall"] == {"a": 0.5, "b": 1.0, "c": 1.0}


def test_roc_points_hold_one_curve_per_class_from_corner_to_corner():
    truth = np.array(["a", "b", "c", "a"])
    probabilities = np.array([[0.9, 0.05, 0.05], [0.2, 0.7, 0.1], [0.3, 0.3, 0.4], [0.6, 0.3, 0.1]])
    points = roc_points(truth, probabilities, CLASSES)
    assert list(points.columns) == ["class", "fpr", "tpr"]
    for _, curve in points.groupby("class"):
        assert curve[["fpr", "tpr"]].iloc[0].tolist() == [0.0, 0.0]
        assert curve[["fpr", "tpr"]].iloc[-1].tolist() == [1.0, 1.0]
        assert curve["fpr"].is_monotonic_increasing and curve["tpr"].is_monotonic_increasing
