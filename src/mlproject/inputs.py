"""A table's columns as the model takes them, the same in training, evaluation, export and the server.

Numbers as float64; categories as strings, with the empty string for a missing value (ONNX cannot hold
NaN in a string column, and the server sends "" for null); the target as it is.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mlproject import files
from mlproject.schema import MISSING_CATEGORY, DatasetSchema, typed


def read_table(path: Path, schema: DatasetSchema) -> pd.DataFrame:
    """A split that `prepare` wrote, with the schema's types: categories exactly as they were written."""
    return typed(files.read_text_csv(path), schema)


def model_input(frame: pd.DataFrame, schema: DatasetSchema) -> pd.DataFrame:
    """The feature columns in schema order: numbers as float64, categories as str with "" for missing."""
    columns = {}
    for name in schema.feature_names:
        if name in schema.numeric:
            columns[name] = frame[name].astype("float64")
        else:
            values = frame[name].astype("object")
            columns[name] = values.where(values.notna(), MISSING_CATEGORY).astype(str).astype(object)
    return pd.DataFrame(columns, index=frame.index)


def target(frame: pd.DataFrame, schema: DatasetSchema) -> np.ndarray:
    """Classes keep their type (strings or integers); a numeric target stays numeric."""
    return frame[schema.label].to_numpy()
