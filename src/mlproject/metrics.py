"""Scores that fit the task, and the champion rule: pure functions on arrays and numbers.

Metrics are rounded to 6 decimals so that floating-point noise in the last digits of a sum can never
make two identical runs differ in their bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    log_loss,
    mean_absolute_error,
    mean_squared_error,
    precision_recall_fscore_support,
    r2_score,
    roc_auc_score,
    roc_curve,
)

from mlproject.config import METRICS, GateParams
from mlproject.inputs import model_input, target
from mlproject.schema import DatasetSchema

DIGITS = 6


def _rounded(value: float) -> float:
    return round(float(value), DIGITS)


def classification_metrics(truth: np.ndarray, predicted: np.ndarray, probabilities: np.ndarray, classes: list) -> dict:
    precision, recall, _, _ = precision_recall_fscore_support(
        truth, predicted, labels=classes, average=None, zero_division=0
    )
    metrics = {
        "accuracy": _rounded(accuracy_score(truth, predicted)),
        "macro_f1": _rounded(f1_score(truth, predicted, labels=classes, average="macro", zero_division=0)),
        "log_loss": _rounded(log_loss(truth, probabilities, labels=classes)),
        "precision": {str(c): _rounded(p) for c, p in zip(classes, precision, strict=True)},
        "recall": {str(c): _rounded(r) for c, r in zip(classes, recall, strict=True)},
    }
    if len(set(truth.tolist())) == len(classes):  # ROC AUC needs every class in the split
        if len(classes) == 2:
            auc = roc_auc_score(truth == classes[1], probabilities[:, 1])
        else:
            auc = roc_auc_score(truth, probabilities, multi_class="ovr", average="macro", labels=classes)
        metrics["roc_auc"] = _rounded(auc)
    return metrics


def regression_metrics(truth: np.ndarray, predicted: np.ndarray) -> dict:
    return {
        "r2": _rounded(r2_score(truth, predicted)),
        "rmse": _rounded(np.sqrt(mean_squared_error(truth, predicted))),
        "mae": _rounded(mean_absolute_error(truth, predicted)),
    }


@dataclass(frozen=True)
class Predictions:
    """A model's answers on a split, beside the truth: what every metric, table and figure is made of."""

    truth: np.ndarray
    predicted: np.ndarray
    probabilities: np.ndarray | None = None  # classification only
    classes: list = field(default_factory=list)


def predict(model, frame: pd.DataFrame, schema: DatasetSchema) -> Predictions:
    features = model_input(frame, schema)
    if schema.task == "regression":
        return Predictions(target(frame, schema), model.predict(features))
    return Predictions(
        target(frame, schema), model.predict(features), model.predict_proba(features), list(model.classes_)
    )


def metrics_of(answers: Predictions) -> dict:
    if answers.probabilities is None:
        return regression_metrics(answers.truth, answers.predicted)
    return classification_metrics(answers.truth, answers.predicted, answers.probabilities, answers.classes)


def tables_of(answers: Predictions) -> dict[str, pd.DataFrame]:
    """The data of the plots, for `dvc plots diff`: file name -> table."""
    if answers.probabilities is None:
        table = pd.DataFrame({"actual": answers.truth, "predicted": answers.predicted.round(DIGITS)})
        table["residual"] = (table["actual"] - table["predicted"]).round(DIGITS)
        return {"predictions.csv": table}
    return {
        "confusion.csv": pd.DataFrame({"actual": answers.truth, "predicted": answers.predicted}),
        "roc.csv": roc_points(answers.truth, answers.probabilities, answers.classes),
    }


def roc_points(truth: np.ndarray, probabilities: np.ndarray, classes: list) -> pd.DataFrame:
    """One-vs-rest ROC curve of every class, in long form: one row per (class, threshold)."""
    curves = []
    for index, name in enumerate(classes):
        fpr, tpr, _ = roc_curve(truth == name, probabilities[:, index])
        curves.append(pd.DataFrame({"class": str(name), "fpr": fpr.round(DIGITS), "tpr": tpr.round(DIGITS)}))
    return pd.concat(curves, ignore_index=True)


@dataclass(frozen=True)
class AliasDecision:
    register: bool  # past the gate: the model becomes a version
    move: bool  # and the alias moves to it
    reason: str


def better_or_equal(metric: str, task: str, candidate: float, other: float) -> bool:
    return candidate >= other if METRICS[task][metric] == "higher" else candidate <= other


def decide_alias(gate: GateParams, task: str, candidate: float, champion: float | None, alias: str) -> AliasDecision:
    """The champion rule, on numbers only: pass the gate, and be no worse than the current champion."""
    name = gate.metric
    if gate.min is not None and candidate < gate.min:
        return AliasDecision(False, False, f"{name} {candidate:.4f} is below the quality gate's minimum {gate.min:.4f}")
    if gate.max is not None and candidate > gate.max:
        return AliasDecision(False, False, f"{name} {candidate:.4f} is above the quality gate's maximum {gate.max:.4f}")
    bound = f"minimum {gate.min:.4f}" if gate.min is not None else f"maximum {gate.max:.4f}"
    if champion is None:
        return AliasDecision(
            True, True, f"{name} {candidate:.4f} passes the gate's {bound}; no {alias} to compare with"
        )
    if not better_or_equal(name, task, candidate, champion):
        return AliasDecision(
            True, False, f"{name} {candidate:.4f} is worse than the current {alias}'s {champion:.4f} on this test split"
        )
    return AliasDecision(
        True, True, f"{name} {candidate:.4f} passes the gate's {bound} and matches or beats {champion:.4f}"
    )
