"""Stage `train`: build the pipeline from params.yaml (features.py's preprocessing, then `model.steps`),
fit it on the training split, and save it with skops in a canonical form (the same fit gives the same
bytes on every run and machine).
"""

from __future__ import annotations

import sys

import pandas as pd
from sklearn.pipeline import Pipeline

from mlproject import config, stage
from mlproject.dataset import SCHEMA
from mlproject.estimators import build_pipeline
from mlproject.inputs import model_input, read_table, target
from mlproject.model_io import save_model
from mlproject.schema import DatasetSchema


def fit(train: pd.DataFrame, params: config.Params, schema: DatasetSchema = SCHEMA) -> Pipeline:
    schema.require_task(params.task)
    pipeline = build_pipeline(params, schema)
    return pipeline.fit(model_input(train, schema), target(train, schema))


def write_model() -> str:
    params = config.load_params(tuned=config.TUNED_FILE)
    model = fit(read_table(config.TRAIN_DATA, SCHEMA), params)
    save_model(model, config.MODEL_FILE)
    return f"fitted {' -> '.join(type(step).__name__ for _, step in model.steps)}, wrote {config.MODEL_FILE}"


def main() -> int:
    return stage.run("train", write_model)


if __name__ == "__main__":
    sys.exit(main())
