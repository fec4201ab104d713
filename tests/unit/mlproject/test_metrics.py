import numpy as np
import pytest

from mlproject import config
from mlproject.metrics import (
    classification_metrics,
    decide_alias,
    metrics_of,
    predict,
    regression_metrics,
    roc_points,
    tables_of,
)

CLASSES = ["a", "b", "c"]


def test_classification_metrics_match_a_hand_computed_example():
    truth = np.array(["a", "a", "b", "c"])
    predicted = np.array(["a", "b", "b", "c"])
    probabilities = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.2, 0.7, 0.1], [0.1, 0.1, 0.8]])
    metrics = classification_metrics(truth, predicted, probabilities, CLASSES)
    assert metrics["accuracy"] == 0.75
    # F1: a = 2/3 (precision 1, recall 1/2), b = 2/3 (precision 1/2, recall 1), c = 1
    assert metrics["macro_f1"] == round((2 / 3 + 2 / 3 + 1) / 3, 6)
    expected_loss = -np.mean(np.log([0.8, 0.1, 0.7, 0.8]))
    assert metrics["log_loss"] == pytest.approx(expected_loss, abs=1e-6)
    assert metrics["precision"] == {"a": 1.0, "b": 0.5, "c": 1.0}
    assert metrics["recall"] == {"a": 0.5, "b": 1.0, "c": 1.0}
    # one-vs-rest AUC: a (.8, .1 against .2, .1) 2.5/4, b (.7 against .1, .8, .1) 2/3, c 1
    assert metrics["roc_auc"] == round((2.5 / 4 + 2 / 3 + 1) / 3, 6)


def test_integer_classes_keep_their_type_and_a_binary_auc_uses_the_second_class():
    truth = np.array([0, 1, 1, 0])
    probabilities = np.array([[0.9, 0.1], [0.3, 0.7], [0.6, 0.4], [0.2, 0.8]])
    metrics = classification_metrics(truth, probabilities.argmax(axis=1), probabilities, [0, 1])
    assert metrics["precision"].keys() == {"0", "1"}
    assert metrics["roc_auc"] == 0.5


def test_roc_auc_is_left_out_when_a_class_is_absent_from_the_split():
    truth = np.array(["a", "a", "b"])
    probabilities = np.array([[0.8, 0.1, 0.1], [0.6, 0.3, 0.1], [0.2, 0.7, 0.1]])
    assert "roc_auc" not in classification_metrics(truth, np.array(["a", "a", "b"]), probabilities, CLASSES)


def test_regression_metrics_match_a_hand_computed_example():
    truth, predicted = np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 2.0, 3.0, 6.0])
    metrics = regression_metrics(truth, predicted)
    assert metrics["mae"] == 0.5
    assert metrics["rmse"] == 1.0
    assert metrics["r2"] == round(1 - 4 / 5, 6)


def test_roc_points_hold_one_curve_per_class_from_corner_to_corner():
    truth = np.array(["a", "b", "c", "a"])
    probabilities = np.array([[0.9, 0.05, 0.05], [0.2, 0.7, 0.1], [0.3, 0.3, 0.4], [0.6, 0.3, 0.1]])
    points = roc_points(truth, probabilities, CLASSES)
    assert list(points.columns) == ["class", "fpr", "tpr"]
    for _, curve in points.groupby("class"):
        assert curve[["fpr", "tpr"]].iloc[0].tolist() == [0.0, 0.0]
        assert curve[["fpr", "tpr"]].iloc[-1].tolist() == [1.0, 1.0]
        assert curve["fpr"].is_monotonic_increasing and curve["tpr"].is_monotonic_increasing


def test_the_active_project_is_scored_with_the_metrics_and_plots_of_its_task(synthetic_model, synthetic_splits, schema):
    answers = predict(synthetic_model, synthetic_splits[1], schema)
    metrics, plots = metrics_of(answers), tables_of(answers)
    assert set(config.METRICS[schema.task]) <= set(metrics) | {"roc_auc"}
    expected = {"confusion.csv", "roc.csv"} if schema.task == "classification" else {"predictions.csv"}
    assert set(plots) == expected
    assert all(len(table) > 0 for table in plots.values())


GATE_MIN = config.GateParams(metric="macro_f1", min=0.9)
GATE_MAX = config.GateParams(metric="log_loss", min=None, max=0.2)


@pytest.mark.parametrize(
    ("gate", "candidate", "champion", "registers", "moves", "says"),
    [
        (GATE_MIN, 0.95, None, True, True, "no champion to compare with"),
        (GATE_MIN, 0.95, 0.95, True, True, "matches or beats 0.9500"),
        (GATE_MIN, 0.97, 0.95, True, True, "matches or beats 0.9500"),
        (GATE_MIN, 0.94, 0.95, True, False, "worse than the current champion's 0.9500"),
        (GATE_MIN, 0.85, None, False, False, "below the quality gate's minimum 0.9000"),
        (GATE_MIN, 0.85, 0.5, False, False, "below the quality gate's minimum 0.9000"),
        (GATE_MAX, 0.1, 0.15, True, True, "matches or beats 0.1500"),
        (GATE_MAX, 0.18, 0.15, True, False, "worse than the current champion's 0.1500"),
        (GATE_MAX, 0.3, None, False, False, "above the quality gate's maximum 0.2000"),
    ],
)
def test_a_version_needs_the_gate_and_the_alias_never_moves_backwards(
    gate, candidate, champion, registers, moves, says
):
    decision = decide_alias(gate, "classification", candidate, champion, "champion")
    assert (decision.register, decision.move) == (registers, moves)
    assert says in decision.reason
    assert "\n" not in decision.reason
