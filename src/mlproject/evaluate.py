"""Stage `evaluate`: score the model on the test split; write metrics for `dvc metrics` and data for `dvc plots`.

Metrics are rounded to 6 decimals so that floating-point noise in the last digits of a sum can never
make two identical runs differ in their bytes.
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, f1_score, log_loss, precision_recall_fscore_support, roc_curve
from sklearn.pipeline import Pipeline

from mlproject import config, files, stage
from mlproject.dataset import SCHEMA
from mlproject.features import labels, model_input
from mlproject.schema import DatasetSchema
from mlproject.train import load_model

DIGITS = 6


def compute_metrics(truth: np.ndarray, predicted: np.ndarray, probabilities: np.ndarray, classes: list[str]) -> dict:
    precision, recall, _, _ = precision_recall_fscore_support(
        truth, predicted, labels=classes, average=None, zero_division=0
    )
    return {
        "accuracy": round(float(accuracy_score(truth, predicted)), DIGITS),
        "macro_f1": round(float(f1_score(truth, predicted, labels=classes, average="macro", zero_division=0)), DIGITS),
        "log_loss": round(float(log_loss(truth, probabilities, labels=classes)), DIGITS),
        "precision": {c: round(float(p), DIGITS) for c, p in zip(classes, precision, strict=True)},
        "recall": {c: round(float(r), DIGITS) for c, r in zip(classes, recall, strict=True)},
    }


def roc_points(truth: np.ndarray, probabilities: np.ndarray, classes: list[str]) -> pd.DataFrame:
    """One-vs-rest ROC curve of every class, in long form: one row per (class, threshold)."""
    curves = []
    for index, name in enumerate(classes):
        fpr, tpr, _ = roc_curve(truth == name, probabilities[:, index])
        curves.append(pd.DataFrame({"class": name, "fpr": fpr.round(DIGITS), "tpr": tpr.round(DIGITS)}))
    return pd.concat(curves, ignore_index=True)


def evaluate(model: Pipeline, test: pd.DataFrame, schema: DatasetSchema) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    truth = labels(test, schema)
    features = model_input(test, schema)
    predicted = model.predict(features)
    probabilities = model.predict_proba(features)
    classes = [str(c) for c in model.classes_]
    confusion = pd.DataFrame({"actual": truth, "predicted": predicted})
    return (
        compute_metrics(truth, predicted, probabilities, classes),
        confusion,
        roc_points(truth, probabilities, classes),
    )


def write_reports() -> str:
    metrics, confusion, roc = evaluate(load_model(config.MODEL_FILE), pd.read_csv(config.TEST_DATA), SCHEMA)
    files.write_json(config.METRICS_FILE, metrics)
    files.write_csv(config.CONFUSION_FILE, confusion)
    files.write_csv(config.ROC_FILE, roc)
    return f"accuracy {metrics['accuracy']:.4f}, macro F1 {metrics['macro_f1']:.4f}"


def main() -> int:
    return stage.run("evaluate", write_reports)


if __name__ == "__main__":
    sys.exit(main())
