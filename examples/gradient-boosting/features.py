"""Feature code: what turns the schema's columns into numbers an estimator can use. THE place for your own.

This is the penguins example with the gradient-boosting libraries people use for tabular data: LightGBM
and XGBoost, through their scikit-learn API. They are not in the template's lock; requirements-model.in
adds them (and onnxmltools, their ONNX converters), and `make use-example` puts it at the top level, where
`make venv` installs its lock. What else a library of your own needs is here:

- `ONNX_CONVERTERS` registers onnxmltools' shape calculators and converters into skl2onnx, with the options
  its classifiers take (the template asks for plain probabilities, no ZipMap). A model whose converter is
  registered here is fed float32, as these converters expect; its package is trusted when the model file
  is loaded (skops), so `lightgbm.basic.Booster` inside it loads.
- XGBoost's classifier learns only the labels 0..n-1; `XGBClassifier` below takes any labels, as every
  scikit-learn classifier does, and is what `estimator: XGBClassifier` in params.yaml names (a class of this
  module comes first). LightGBM's classifiers take labels as they are: `estimator: lightgbm.LGBMClassifier`.

Numbers: missing values are imputed (mean or median, learnt on the training split), and standardised if
`features.scale_numbers` says so. Categories are one-hot encoded, a missing value as a category of its own.
"""

from __future__ import annotations

from collections.abc import Callable

import lightgbm
import numpy as np
import xgboost
from onnxmltools.convert.lightgbm.operator_converters.LightGbm import convert_lightgbm
from onnxmltools.convert.xgboost.operator_converters.XGBoost import convert_xgboost
from skl2onnx.common.shape_calculator import (
    calculate_linear_classifier_output_shapes,
    calculate_linear_regressor_output_shapes,
)
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import LabelEncoder, OneHotEncoder, StandardScaler

from mlproject.config import FeatureParams
from mlproject.schema import DatasetSchema


class XGBClassifier(xgboost.XGBClassifier):
    """XGBoost's classifier for any class labels: encoded to 0..n-1 for XGBoost in fit, decoded in predict."""

    @property
    def classes_(self) -> np.ndarray:
        # XGBoost's own property (0..n-1) while it fits; the labels once this class has set them.
        return self.__dict__.get("labels_", np.arange(self.n_classes_))

    def fit(self, X, y, **fit_params):
        self.__dict__.pop("labels_", None)
        encoder = LabelEncoder().fit(y)
        super().fit(X, encoder.transform(y), **fit_params)
        self.labels_ = encoder.classes_
        return self

    def predict(self, X, **predict_params):
        return self.classes_[super().predict(X, **predict_params)]


CLASSIFIER_OPTIONS = {"nocl": [True, False], "zipmap": [True, False, "columns"]}

# A class -> (its skl2onnx shape calculator, its converter[, the options its converter takes]). skl2onnx's
# shape calculators: onnxmltools' own check for onnxmltools' tensor types, which skl2onnx's graph does not use.
ONNX_CONVERTERS: dict[type, tuple[Callable | dict, ...]] = {
    lightgbm.LGBMClassifier: (calculate_linear_classifier_output_shapes, convert_lightgbm, CLASSIFIER_OPTIONS),
    lightgbm.LGBMRegressor: (calculate_linear_regressor_output_shapes, convert_lightgbm),
    XGBClassifier: (calculate_linear_classifier_output_shapes, convert_xgboost, CLASSIFIER_OPTIONS),
    xgboost.XGBRegressor: (calculate_linear_regressor_output_shapes, convert_xgboost),
}


def build_preprocessor(schema: DatasetSchema, params: FeatureParams) -> ColumnTransformer:
    """Impute (and optionally standardise) numbers, one-hot encode categories."""
    numeric_steps = [("impute", SimpleImputer(strategy=params.numeric_imputation))]
    if params.scale_numbers:
        numeric_steps.append(("scale", StandardScaler()))
    branches = [
        ("numeric", Pipeline(numeric_steps), schema.numeric),
        ("categorical", OneHotEncoder(handle_unknown="ignore", sparse_output=False), schema.categorical),
    ]
    return ColumnTransformer([branch for branch in branches if branch[2]], verbose_feature_names_out=False)
