"""Stage `prepare`: check the raw data against its schema, clean it, and write a seeded train/test split."""

from __future__ import annotations

import sys

import pandas as pd
from sklearn.model_selection import train_test_split

from mlproject import config, files, stage
from mlproject.dataset import SCHEMA
from mlproject.schema import DatasetSchema, SchemaError, check, clean, without_target_gaps


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


def prepared(raw: pd.DataFrame, schema: DatasetSchema, params: config.Params) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """The checked, cleaned and split table, and how many rows were dropped for a missing target."""
    kept = without_target_gaps(raw, schema) if params.data.missing_target == "drop" else raw
    check(kept, schema, str(config.RAW_DATA))
    cleaned = clean(kept, schema)
    check(cleaned, schema, f"{config.RAW_DATA} after cleaning")
    return *split(cleaned, schema, params.data.test_size, params.seed), len(raw) - len(kept)


def run(params: config.Params) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    SCHEMA.require_task(params.task)
    try:
        raw = files.read_text_csv(config.RAW_DATA)
    except pd.errors.EmptyDataError:
        raise SchemaError(f"{config.RAW_DATA} is empty: no header, no rows") from None
    return prepared(raw, SCHEMA, params)


def write_splits() -> str:
    train, test, dropped = run(config.load_params())
    files.write_csv(config.TRAIN_DATA, train)
    files.write_csv(config.TEST_DATA, test)
    gaps = f"; {dropped} rows without a target dropped (data.missing_target)" if dropped else ""
    return f"{len(train)} training rows, {len(test)} test rows{gaps}"


def main() -> int:
    return stage.run("prepare", write_splits)


if __name__ == "__main__":
    sys.exit(main())
