"""Feature code: what turns the schema's columns into numbers an estimator can use. THE place for your own.

This is the penguins example with a feature of its own: the bill's shape, bill length over bill depth
(Gentoo penguins have long, thin bills; Adelie short, deep ones). `BillRatio` computes it inside the
numeric branch, after imputation; its shape calculator and converter below teach skl2onnx the same
arithmetic, so the served ONNX model computes the feature too (the export's parity check proves it).

Numbers: missing values are imputed (mean or median, learnt on the training split), and standardised if
`features.scale_numbers` says so. Categories (strings, "" for a missing value: `inputs.model_input`)
are one-hot encoded, a missing value as a category of its own; a category never seen in training
encodes as all zeros.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from skl2onnx.algebra.onnx_ops import OnnxConcat, OnnxDiv, OnnxGather
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.utils.validation import check_is_fitted, validate_data

from mlproject.config import FeatureParams
from mlproject.schema import DatasetSchema


class BillRatio(TransformerMixin, BaseEstimator):
    """Appends column `numerator` divided by column `denominator` to the numbers it is given."""

    def __init__(self, numerator: int = 0, denominator: int = 1):
        self.numerator = numerator
        self.denominator = denominator

    def fit(self, X, y=None):
        # Learns nothing, but sets n_features_in_: scikit-learn checks it to tell a fitted step.
        validate_data(self, X)
        return self

    def transform(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        return np.hstack([X, X[:, [self.numerator]] / X[:, [self.denominator]]])


def bill_ratio_shape(operator) -> None:
    """ONNX shape: the input's type (numbers reach it as float64, as in scikit-learn) and rows, one column more."""
    numbers = operator.inputs[0]
    rows, columns = numbers.get_first_dimension(), numbers.get_second_dimension()
    operator.outputs[0].type = type(numbers.type)([rows, None if columns is None else columns + 1])


def convert_bill_ratio(scope, operator, container) -> None:
    """The same arithmetic as BillRatio.transform, as ONNX nodes: Gather both columns, Div, Concat."""
    step, numbers, version = operator.raw_operator, operator.inputs[0], container.target_opset
    numerator = OnnxGather(numbers, np.array([step.numerator], dtype=np.int64), axis=1, op_version=version)
    denominator = OnnxGather(numbers, np.array([step.denominator], dtype=np.int64), axis=1, op_version=version)
    ratio = OnnxDiv(numerator, denominator, op_version=version)
    combined = OnnxConcat(numbers, ratio, axis=1, op_version=version, output_names=operator.outputs[:1])
    combined.add_to(scope, container)


# Your transformer class -> (its skl2onnx shape calculator, its skl2onnx converter).
ONNX_CONVERTERS: dict[type, tuple[Callable, ...]] = {BillRatio: (bill_ratio_shape, convert_bill_ratio)}


def build_preprocessor(schema: DatasetSchema, params: FeatureParams) -> ColumnTransformer:
    """Impute numbers and add the bill ratio (optionally standardise), one-hot encode categories."""
    ratio = BillRatio(schema.numeric.index("bill_length_mm"), schema.numeric.index("bill_depth_mm"))
    numeric_steps = [("impute", SimpleImputer(strategy=params.numeric_imputation)), ("bill_ratio", ratio)]
    if params.scale_numbers:
        numeric_steps.append(("scale", StandardScaler()))
    branches = [
        ("numeric", Pipeline(numeric_steps), schema.numeric),
        ("categorical", OneHotEncoder(handle_unknown="ignore", sparse_output=False), schema.categorical),
    ]
    return ColumnTransformer([branch for branch in branches if branch[2]], verbose_feature_names_out=False)
