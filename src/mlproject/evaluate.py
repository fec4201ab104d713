"""Stage `evaluate`: score the model on the test split and cross-validate it on the training split; write
metrics for `dvc metrics`, the plots' data (CSV, for `dvc plots diff`) and their pictures (PNG, for
`dvc plots show` and the MLflow run).

Classification: accuracy, macro F1, log loss, Brier score, ROC AUC, per-class precision and recall; a confusion
matrix, one-vs-rest ROC curves (data) and precision-recall curves (picture). Regression: R2, RMSE, MAE;
predicted against actual values, and the residuals. Under `cv`: each headline metric's mean and standard
deviation over repeated K-fold cross-validation (`evaluation` in params.yaml), which the champion rule uses.
"""

from __future__ import annotations

import sys

from mlproject import config, files, stage
from mlproject.dataset import SCHEMA
from mlproject.figures import figures_of
from mlproject.inputs import read_table
from mlproject.metrics import metrics_of, predict, tables_of
from mlproject.model_io import load_model
from mlproject.validation import cross_validate


def write_reports() -> str:
    params = config.load_params()
    SCHEMA.require_task(params.task)
    model = load_model(config.MODEL_FILE)
    answers = predict(model, read_table(config.TEST_DATA, SCHEMA), SCHEMA)
    metrics = metrics_of(answers)
    cv = cross_validate(model, read_table(config.TRAIN_DATA, SCHEMA), SCHEMA, params.evaluation, params.seed)
    name = params.comparison_metric
    if name not in cv:
        raise stage.StageError(
            f"registry.comparison.metric {name} cannot be cross-validated here (a fold lacks a class): "
            "choose another metric or fewer evaluation.folds"
        )
    tables = {file: files.csv_bytes(table) for file, table in tables_of(answers).items()}
    pictures = figures_of(answers)  # everything computed before anything is written
    files.write_json(config.METRICS_FILE, {**metrics, "cv": cv})
    files.write_directory(config.PLOTS_DIR, tables)
    files.write_directory(config.FIGURES_DIR, pictures)
    tested = ", ".join(f"{key} {value:.4f}" for key, value in metrics.items() if isinstance(value, float))
    return f"{tested}; cross-validated {name} {cv[name]['mean']:.4f} ± {cv[name]['std']:.4f}"


def main() -> int:
    return stage.run("evaluate", write_reports)


if __name__ == "__main__":
    sys.exit(main())
