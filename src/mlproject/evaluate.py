"""Stage `evaluate`: score the model on the test split; write metrics for `dvc metrics` and data for `dvc plots`.

Classification: accuracy, macro F1, log loss, ROC AUC, per-class precision and recall; a confusion
matrix and one-vs-rest ROC curves. Regression: R2, RMSE, MAE; predicted against actual values.
"""

from __future__ import annotations

import shutil
import sys

import pandas as pd

from mlproject import config, files, stage
from mlproject.dataset import SCHEMA
from mlproject.metrics import score
from mlproject.model_io import load_model


def write_reports() -> str:
    params = config.load_params()
    SCHEMA.require_task(params.task)
    metrics, plots = score(load_model(config.MODEL_FILE), pd.read_csv(config.TEST_DATA), SCHEMA)
    files.write_json(config.METRICS_FILE, metrics)
    staging = config.PLOTS_DIR.with_name(f".{config.PLOTS_DIR.name}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    for name, table in plots.items():
        files.write_csv(staging / name, table)
    files.replace_directory(staging, config.PLOTS_DIR)
    return ", ".join(f"{name} {value:.4f}" for name, value in metrics.items() if isinstance(value, float))


def main() -> int:
    return stage.run("evaluate", write_reports)


if __name__ == "__main__":
    sys.exit(main())
