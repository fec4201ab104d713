import numpy as np
import pytest

from mlproject import config
from mlproject.estimators import class_scores
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
    # Brier: squared distance to the one-hot truth per row, 0.06 + 1.46 + 0.14 + 0.06, over 4 rows
    assert metrics["brier"] == pytest.approx(1.72 / 4, abs=1e-6)
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
    scores = class_scores(synthetic_model) if schema.task == "classification" else None
    assert set(config.usable_metrics(schema.task, scores, len(schema.classes))) <= set(metrics) | {"roc_auc"}
    expected = {"confusion.csv", "roc.csv"} if schema.task == "classification" else {"predictions.csv"}
    assert set(plots) == expected
    assert all(len(table) > 0 for table in plots.values())


def registry_params(gate: dict, tolerance: float) -> config.Params:
    """Classification params: the gate on the test split; the comparison on cross-validated log loss."""
    return config.Params.model_validate(
        {"registry": {"gate": gate, "comparison": {"metric": "log_loss", "tolerance": tolerance}}}
    )


MACRO_F1_MIN = {"metric": "macro_f1", "min": 0.9}
LOG_LOSS_MAX = {"metric": "log_loss", "max": 0.2}


@pytest.mark.parametrize(
    ("gate", "tested", "candidate", "champion", "registers", "moves", "says"),
    [
        (MACRO_F1_MIN, 0.95, 0.10, None, True, True, "no champion to compare with"),
        (MACRO_F1_MIN, 1.0, 0.10, 0.12, True, True, "0.1000 against the champion's 0.1200: better by more than 0.001"),
        (MACRO_F1_MIN, 1.0, 0.10, 0.10, True, False, "not better by more than 0.001, the champion stays"),
        (MACRO_F1_MIN, 1.0, 0.1195, 0.12, True, False, "not better by more than 0.001"),  # within the tolerance
        (MACRO_F1_MIN, 1.0, 0.0664, 0.0674, True, False, "not better by more than 0.001"),  # exactly the tolerance
        (MACRO_F1_MIN, 1.0, 0.119, 0.12, True, False, "not better by more than 0.001"),
        (MACRO_F1_MIN, 1.0, 0.13, 0.12, True, False, "not better by more than 0.001"),
        (MACRO_F1_MIN, 0.85, 0.01, None, False, False, "below the quality gate's minimum 0.9000"),
        (MACRO_F1_MIN, 0.85, 0.01, 0.5, False, False, "below the quality gate's minimum 0.9000"),
        (LOG_LOSS_MAX, 0.1, 0.1, 0.15, True, True, "better by more than 0.001"),
        (LOG_LOSS_MAX, 0.3, 0.1, None, False, False, "above the quality gate's maximum 0.2000"),
    ],
)
def test_a_version_needs_the_gate_and_the_alias_moves_only_on_a_strict_improvement(
    gate, tested, candidate, champion, registers, moves, says
):
    decision = decide_alias(registry_params(gate, 0.001), tested, candidate, champion, experiment=None)
    assert (decision.register, decision.move) == (registers, moves)
    assert says in decision.reason
    assert "\n" not in decision.reason


def test_a_champion_that_cannot_be_scored_keeps_the_alias():
    decision = decide_alias(registry_params(MACRO_F1_MIN, 0.0), 1.0, 0.01, None, None, unscored="OSError: gone")
    assert (decision.register, decision.move) == (True, False)
    assert "the champion cannot be scored here (OSError: gone), so it stays" in decision.reason


def test_higher_is_better_metrics_compare_the_other_way():
    params = config.Params.model_validate({"registry": {"comparison": {"metric": "accuracy", "tolerance": 0.0}}})
    assert decide_alias(params, 1.0, 0.96, 0.95, experiment=None).move
    assert not decide_alias(params, 1.0, 0.95, 0.95, experiment=None).move  # a tie keeps the incumbent
    assert not decide_alias(params, 1.0, 0.94, 0.95, experiment=None).move


def test_an_experiment_registers_past_the_gate_but_never_moves_the_alias():
    params = registry_params(MACRO_F1_MIN, 0.0)
    decision = decide_alias(params, 1.0, 0.01, 0.5, experiment="gusty-pika")
    assert (decision.register, decision.move) == (True, False)
    assert "experiment gusty-pika leaves 'champion' where it is" in decision.reason
    assert "make promote VERSION=" in decision.reason
    assert not decide_alias(params, 0.5, 0.01, None, experiment="gusty-pika").register


def test_the_comparison_metric_defaults_to_the_tasks_proper_score_and_must_fit_the_task():
    assert config.Params().comparison_metric == "log_loss"
    regression = {"task": "regression", "registry": {"gate": {"metric": "r2", "min": 0.1}}}
    assert config.Params.model_validate(regression).comparison_metric == "rmse"
    with pytest.raises(config.ParamsError, match="registry.comparison.metric: 'r2' is not a classification metric"):
        config.parse_params({"registry": {"comparison": {"metric": "r2"}}})
    with pytest.raises(config.ParamsError, match="registry.comparison.tolerance"):
        config.parse_params({"registry": {"comparison": {"tolerance": -1}}})
