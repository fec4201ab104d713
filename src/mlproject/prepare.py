"""Stage `prepare`: check the raw data against its schema, clean it, and write a seeded train/test split."""

from __future__ import annotations

import sys

import pandas as pd
from sklearn.model_selection import train_test_split

from mlproject import config, files, stage
from mlproject.dataset import SCHEMA
from mlproject.schema import DatasetSchema, SchemaError, check, clean


def split(frame: pd.DataFrame, schema: DatasetSchema, test_size: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A seeded train/test split, the same on any machine; for classification it keeps each class's share."""
    if schema.task == "regression":
        train, test = train_test_split(frame, test_size=test_size, random_state=seed)
        return train.reset_index(drop=True), test.reset_index(drop=True)
    counts = frame[schema.label].value_counts()
    too_rare = counts[counts < 2]
    if not too_rare.empty:
        raise SchemaError(
            f"column '{schema.label}': classes {', '.join(map(str, too_rare.index))} have fewer than 2 rows, "
            "too few for a stratified split"
        )
    train, test = train_test_split(frame, test_size=test_size, random_state=seed, stratify=frame[schema.label])
    return train.reset_index(drop=True), test.reset_index(drop=True)


def run(params: config.Params) -> tuple[pd.DataFrame, pd.DataFrame]:
    SCHEMA.require_task(params.task)
    try:
        raw = pd.read_csv(config.RAW_DATA)
    except pd.errors.EmptyDataError:
        raise SchemaError(f"{config.RAW_DATA} is empty: no header, no rows") from None
    check(raw, SCHEMA, str(config.RAW_DATA))
    cleaned = clean(raw, SCHEMA)
    check(cleaned, SCHEMA, f"{config.RAW_DATA} after cleaning")
    return split(cleaned, SCHEMA, params.data.test_size, params.seed)


def write_splits() -> str:
    train, test = run(config.load_params())
    files.write_csv(config.TRAIN_DATA, train)
    files.write_csv(config.TEST_DATA, test)
    return f"{len(train)} training rows, {len(test)} test rows"


def main() -> int:
    return stage.run("prepare", write_splits)


if __name__ == "__main__":
    sys.exit(main())
