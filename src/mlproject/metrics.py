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
    average_precision_score,
    brier_score_loss,
    f1_score,
    log_loss,
    mean_absolute_error,
    mean_squared_error,
    precision_recall_fscore_support,
    r2_score,
    roc_auc_score,
    roc_curve,
)

from mlproject.config import METRICS, GateParams, Params
from mlproject.inputs import model_input, target
from mlproject.schema import DatasetSchema

DIGITS = 6


def rounded(value: float) -> float:
    """To DIGITS decimals: noise in the last bits of a sum never changes the bytes of two identical runs."""
    return round(float(value), DIGITS)


def classification_metrics(
    truth: np.ndarray,
    predicted: np.ndarray,
    probabilities: np.ndarray | None,
    classes: list,
    decision: np.ndarray | None = None,
) -> dict:
    """The metrics a classifier's answers allow: accuracy, macro F1 and per-class precision and recall from
    its labels; log loss and the Brier score from its probabilities; ROC AUC and, for two classes, average
    precision from its probabilities or, where scikit-learn allows it (two classes), its decision_function."""
    precision, recall, _, _ = precision_recall_fscore_support(
        truth, predicted, labels=classes, average=None, zero_division=0
    )
    metrics = {
        "accuracy": rounded(accuracy_score(truth, predicted)),
        "macro_f1": rounded(f1_score(truth, predicted, labels=classes, average="macro", zero_division=0)),
        "precision": {str(c): rounded(p) for c, p in zip(classes, precision, strict=True)},
        "recall": {str(c): rounded(r) for c, r in zip(classes, recall, strict=True)},
    }
    if probabilities is not None:
        metrics["log_loss"] = rounded(log_loss(truth, probabilities, labels=classes))
        metrics["brier"] = rounded(brier_score_loss(truth, probabilities, labels=classes))
    if len(set(truth.tolist())) < len(classes):  # ranking metrics need every class in the split
        return metrics
    if len(classes) == 2:
        positive = probabilities[:, 1] if probabilities is not None else decision
        if positive is not None:
            metrics["roc_auc"] = rounded(roc_auc_score(truth == classes[1], positive))
            metrics["average_precision"] = rounded(average_precision_score(truth == classes[1], positive))
    elif probabilities is not None:
        metrics["roc_auc"] = rounded(
            roc_auc_score(truth, probabilities, multi_class="ovr", average="macro", labels=classes)
        )
    return metrics


def regression_metrics(truth: np.ndarray, predicted: np.ndarray) -> dict:
    return {
        "r2": rounded(r2_score(truth, predicted)),
        "rmse": rounded(np.sqrt(mean_squared_error(truth, predicted))),
        "mae": rounded(mean_absolute_error(truth, predicted)),
    }


@dataclass(frozen=True)
class Predictions:
    """A model's answers on a split, beside the truth: what every metric, table and figure is made of.

    A classifier has classes, and its probabilities, or its decision_function's scores if it gives no
    probabilities, or neither.
    """

    truth: np.ndarray
    predicted: np.ndarray
    probabilities: np.ndarray | None = None
    classes: list = field(default_factory=list)
    decision: np.ndarray | None = None

    @property
    def classification(self) -> bool:
        return bool(self.classes)

    @property
    def ranking(self) -> np.ndarray | None:
        """One score per class and row that orders the rows (curves need no more): probabilities, or the
        decision scores (two classes: -s and s)."""
        if self.probabilities is not None or self.decision is None:
            return self.probabilities
        return np.column_stack([-self.decision, self.decision]) if self.decision.ndim == 1 else self.decision


def predict(model, frame: pd.DataFrame, schema: DatasetSchema) -> Predictions:
    features = model_input(frame, schema)
    if schema.task == "regression":
        return Predictions(target(frame, schema), model.predict(features))
    probabilities = model.predict_proba(features) if hasattr(model, "predict_proba") else None
    decision = None
    if probabilities is None and hasattr(model, "decision_function"):
        decision = model.decision_function(features)
    return Predictions(target(frame, schema), model.predict(features), probabilities, list(model.classes_), decision)


def metrics_of(answers: Predictions) -> dict:
    if not answers.classification:
        return regression_metrics(answers.truth, answers.predicted)
    return classification_metrics(
        answers.truth, answers.predicted, answers.probabilities, answers.classes, answers.decision
    )


def tables_of(answers: Predictions) -> dict[str, pd.DataFrame]:
    """The data of the plots, for `dvc plots diff`: file name -> table."""
    if not answers.classification:
        table = pd.DataFrame({"actual": answers.truth, "predicted": answers.predicted.round(DIGITS)})
        table["residual"] = (table["actual"] - table["predicted"]).round(DIGITS)
        return {"predictions.csv": table}
    tables = {"confusion.csv": pd.DataFrame({"actual": answers.truth, "predicted": answers.predicted})}
    if answers.ranking is not None:
        tables["roc.csv"] = roc_points(answers.truth, answers.ranking, answers.classes)
    return tables


def roc_points(truth: np.ndarray, scores: np.ndarray, classes: list) -> pd.DataFrame:
    """One-vs-rest ROC curve of every class, in long form: one row per (class, threshold)."""
    curves = []
    for index, name in enumerate(classes):
        fpr, tpr, _ = roc_curve(truth == name, scores[:, index])
        curves.append(pd.DataFrame({"class": str(name), "fpr": fpr.round(DIGITS), "tpr": tpr.round(DIGITS)}))
    return pd.concat(curves, ignore_index=True)


@dataclass(frozen=True)
class AliasDecision:
    register: bool  # past the gate and servable: the model becomes a version
    move: bool  # and the alias moves to it
    reason: str
    servable: bool | None = None  # None: not asked (below the gate)


def improvement(metric: str, task: str, candidate: float, other: float) -> float:
    """How much better `candidate` is than `other` (negative when worse), whichever way the metric points,
    to the metrics' own precision: 0.0674 - 0.0664 is 0.001, not a hair more."""
    return rounded(candidate - other if METRICS[task][metric] == "higher" else other - candidate)


def failed_gate(gate: GateParams, tested: float) -> str | None:
    """Why `tested` fails the quality gate, or None when it passes."""
    if gate.min is not None and tested < gate.min:
        return f"{gate.metric} {tested:.4f} is below the quality gate's minimum {gate.min:.4f}"
    if gate.max is not None and tested > gate.max:
        return f"{gate.metric} {tested:.4f} is above the quality gate's maximum {gate.max:.4f}"
    return None


def decide_alias(
    params: Params,
    tested: float,
    candidate: float,
    champion: float | None,
    experiment: str | None,
    unscored: str | None = None,
    unservable: str | None = None,
) -> AliasDecision:
    """The champion rule, on numbers only.

    `tested` is the gate's metric on the held-out test split; `candidate` and `champion` are the comparison
    metric's cross-validated means on the same folds. Past the gate the model becomes a version; the alias
    moves to it only on the main line (not in an experiment) and only for an improvement larger than the
    declared tolerance: a tie keeps the incumbent. A champion that exists but could not be scored here
    (`unscored` says why) keeps the alias too: only `make promote` replaces it then. A model that cannot be
    served (`unservable` says why) becomes no version at all.
    """
    gate = params.registry.gate
    if refusal := failed_gate(gate, tested):
        return AliasDecision(False, False, refusal)
    passed = f"{gate.metric} {tested:.4f} passes the gate"
    if unservable is not None:
        return AliasDecision(False, False, f"{passed}, but it cannot be served: {unservable}", servable=False)
    decision = _past_the_gate(params, passed, candidate, champion, experiment, unscored)
    return AliasDecision(decision.register, decision.move, decision.reason, servable=True)


def _past_the_gate(
    params: Params, passed: str, candidate: float, champion: float | None, experiment: str | None, unscored: str | None
) -> AliasDecision:
    alias = params.registry.champion_alias
    if experiment:
        return AliasDecision(
            True, False, f"{passed}; experiment {experiment} leaves '{alias}' where it is (`make promote VERSION=<n>`)"
        )
    if unscored is not None:
        return AliasDecision(
            True, False, f"{passed}; the {alias} cannot be scored here ({unscored}), so it stays (`make promote`)"
        )
    if champion is None:
        return AliasDecision(True, True, f"{passed}; no {alias} to compare with")
    name, tolerance = params.comparison_metric, params.registry.comparison.tolerance
    versus = f"cross-validated {name} {candidate:.4f} against the {alias}'s {champion:.4f}"
    if improvement(name, params.task, candidate, champion) > tolerance:
        return AliasDecision(True, True, f"{passed}; {versus}: better by more than {tolerance:g}")
    return AliasDecision(True, False, f"{passed}; {versus}: not better by more than {tolerance:g}, the {alias} stays")
