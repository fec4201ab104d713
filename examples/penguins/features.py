"""Feature code: what turns the schema's columns into numbers an estimator can use. THE place for your own.

Numbers: missing values are imputed (mean or median, learnt on the training split), and standardised if
`features.scale_numbers` says so. Categories (strings, "" for a missing value: `inputs.model_input`)
are one-hot encoded, a missing value as a category of its own, so "sex unknown" is information the model
can use; a category never seen in training encodes as all zeros. Strings throughout keep the pipeline
convertible to ONNX, which cannot handle NaN in a string column.

Your own transformers go in this module too (the README's "Custom transformers" shows one). A class
defined here is trusted when the model is loaded (skops), may be named as a step in params.yaml, and is
exported to ONNX with the shape calculator and converter that `ONNX_CONVERTERS` gives it.
"""

from __future__ import annotations

from collections.abc import Callable

from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from mlproject.config import FeatureParams
from mlproject.schema import DatasetSchema

# A class of yours, or a model of another library -> (its skl2onnx shape calculator, its converter[, the
# options the converter takes]). examples/gradient-boosting registers LightGBM's and XGBoost's.
ONNX_CONVERTERS: dict[type, tuple[Callable | dict, ...]] = {}


def build_preprocessor(schema: DatasetSchema, params: FeatureParams) -> ColumnTransformer:
    """Impute (and optionally standardise) numbers, one-hot encode categories.

    Trees split on thresholds, so scaling changes nothing for them; either way the ONNX model compares the
    same float32 values as scikit-learn's trees do (the export casts right before them): they agree exactly.
    """
    numeric_steps = [("impute", SimpleImputer(strategy=params.numeric_imputation))]
    if params.scale_numbers:
        numeric_steps.append(("scale", StandardScaler()))
    branches = [
        ("numeric", Pipeline(numeric_steps), schema.numeric),
        ("categorical", OneHotEncoder(handle_unknown="ignore", sparse_output=False), schema.categorical),
    ]
    return ColumnTransformer([branch for branch in branches if branch[2]], verbose_feature_names_out=False)
