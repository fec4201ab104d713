"""Feature preprocessing: what turns a schema's columns into numbers a classifier can use.

Numbers: missing values are imputed (mean or median, learnt on the training split).
Categories: a missing value is written as the empty string (`model_input`) and one-hot encoded as a
category of its own, so "sex unknown" is information the model can use; a category never seen in
training encodes as all zeros. Strings throughout keep the pipeline convertible to ONNX, which cannot
handle NaN in a string column, and the serving graph small.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from mlproject.schema import DatasetSchema

MISSING_CATEGORY = ""


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


def labels(frame: pd.DataFrame, schema: DatasetSchema) -> np.ndarray:
    return frame[schema.label].astype(str).to_numpy()


def build_preprocessor(schema: DatasetSchema, numeric_imputation: str, scale: bool) -> ColumnTransformer:
    """Impute numbers and one-hot encode categories; standardise numbers only for models that need it.

    Trees split on thresholds, so scaling cannot change them; leaving it out keeps the ONNX model's
    float32 arithmetic on the very values scikit-learn's trees compare, and the two agree exactly.
    """
    numeric_steps = [("impute", SimpleImputer(strategy=numeric_imputation))]
    if scale:
        numeric_steps.append(("scale", StandardScaler()))
    categorical = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
    return ColumnTransformer(
        [("numeric", Pipeline(numeric_steps), schema.numeric), ("categorical", categorical, schema.categorical)],
        verbose_feature_names_out=False,
    )
