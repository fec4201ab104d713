"""Stage `evaluate`: score the model on the test split; write metrics for `dvc metrics`, the plots' data
(CSV, for `dvc plots diff`) and their pictures (PNG, for `dvc plots show` and the MLflow run).

Classification: accuracy, macro F1, log loss, ROC AUC, per-class precision and recall; a confusion
matrix, one-vs-rest ROC curves (data) and precision-recall curves (picture). Regression: R2, RMSE, MAE;
predicted against actual values, and the residuals.
"""

from __future__ import annotations

import sys

import pandas as pd

from mlproject import config, files, stage
from mlproject.dataset import SCHEMA
from mlproject.figures import figures_of
from mlproject.metrics import metrics_of, predict, tables_of
from mlproject.model_io import load_model


def write_reports() -> str:
    params = config.load_params()
    SCHEMA.require_task(params.task)
    answers = predict(load_model(config.MODEL_FILE), pd.read_csv(config.TEST_DATA), SCHEMA)
    metrics = metrics_of(answers)
    files.write_json(config.METRICS_FILE, metrics)
    files.write_directory(config.PLOTS_DIR, {name: files.csv_bytes(t) for name, t in tables_of(answers).items()})
    files.write_directory(config.FIGURES_DIR, figures_of(answers))
    return ", ".join(f"{name} {value:.4f}" for name, value in metrics.items() if isinstance(value, float))


def main() -> int:
    return stage.run("evaluate", write_reports)


if __name__ == "__main__":
    sys.exit(main())
