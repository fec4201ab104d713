from dataclasses import replace

import numpy as np
import onnx
import onnxruntime
import pandas as pd
import pytest
import scipy.special
from skl2onnx.algebra.onnx_ops import OnnxIdentity
from skl2onnx.common.shape_calculator import calculate_linear_regressor_output_shapes
from skl2onnx.operator_converters.linear_regressor import convert_sklearn_linear_regressor
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler

from mlproject import config, conversion, converters, features
from mlproject.conversion import ConversionError
from mlproject.inputs import model_input
from mlproject.train import fit
from tests.helpers import (
    EXAMPLES,
    ODD_NAMES,
    REGRESSION,
    fit_reference,
    load_module,
    penguins_example,
    penguins_regression,
    synthetic_frame,
)

PENGUINS = penguins_example().SCHEMA
EXACT = config.Tolerance()


def test_the_active_projects_model_converts_and_agrees_with_scikit_learn(
    synthetic_model, synthetic_splits, schema, params
):
    converted = conversion.convert(synthetic_model, schema, params.task)
    checked = conversion.parity(synthetic_model, converted, synthetic_splits[1], schema, params.export.tolerance)
    assert checked.rows == len(synthetic_splits[1])
    assert len(converted.feeds) == len(schema.feature_names)


def test_the_penguins_model_takes_one_input_per_column_and_has_plain_outputs(fitted):
    converted = conversion.convert(fitted, PENGUINS, "classification")
    graph = onnx.load_from_string(converted.model).graph
    assert [i.name for i in graph.input] == converted.feeds == PENGUINS.feature_names
    assert [d.dim_value for d in graph.input[0].type.tensor_type.shape.dim] == [0, 1]
    assert graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.DOUBLE  # numbers as scikit-learn reads them
    assert converted.outputs == [o.name for o in graph.output] == ["label", "probabilities"]
    assert converted.class_scores == "probabilities"


@pytest.mark.parametrize("estimator", ["RandomForestClassifier", "LogisticRegression"])
def test_penguins_parity_holds_on_the_whole_test_split(splits, estimator):
    train, test = splits
    params = config.parse_params({"features": {"scale_numbers": estimator == "LogisticRegression"},
                                  "model": {"steps": {"classify": {"estimator": estimator}}}})  # fmt: skip
    model = fit_reference(train, params, PENGUINS)
    checked = conversion.parity(model, conversion.convert(model, PENGUINS, "classification"), test, PENGUINS, EXACT)
    assert checked.rows == len(test) and checked.labels_equal
    assert checked.max_difference <= EXACT.absolute


def test_a_model_that_disagrees_fails_the_export_with_a_message(splits, fitted):
    train, test = splits
    weak = config.parse_params({"model": {"steps": {"c": {"estimator": "LogisticRegression", "params": {"C": 0.001}}}}})
    other = fit_reference(train, weak, PENGUINS)
    converted = conversion.convert(other, PENGUINS, "classification")
    with pytest.raises(ConversionError, match=r"disagree on \d+ of 69 test rows|differ from scikit-learn's"):
        conversion.parity(fitted, converted, test, PENGUINS, EXACT)


def test_a_regressor_exports_with_a_predictions_output_and_keeps_odd_column_names():
    train = synthetic_frame(ODD_NAMES, rows=120, seed=4)
    model = fit_reference(train, REGRESSION, ODD_NAMES)
    converted = conversion.convert(model, ODD_NAMES, "regression")
    assert converted.outputs == ["predictions"]
    assert len(converted.feeds) == len(ODD_NAMES.feature_names)
    assert all("/" not in feed and " " not in feed for feed in converted.feeds)
    tolerance = config.Tolerance(absolute=1e-4, relative=1e-5)
    checked = conversion.parity(model, converted, train, ODD_NAMES, tolerance)
    assert checked.labels_equal is None and 0 <= checked.max_difference <= 1e-3


@pytest.mark.parametrize(("absolute", "decimals"), [(1e-5, 5), (3e-5, 5), (1e-3, 3), (0.5, 1), (1.0, 0), (0.0, None)])
def test_served_numbers_keep_the_decimals_the_tolerance_vouches_for(absolute, decimals):
    assert conversion.served_decimals(config.Tolerance(absolute=absolute, relative=0.0)) == decimals


def test_the_graph_rounds_its_numbers_and_the_parity_check_sees_them_rounded(splits):
    """Rounded inside the graph (a float32 sum's 0.87999904 is served as 0.88) and checked as served."""
    train, test = splits
    model = fit_reference(train, config.parse_params({}), PENGUINS)
    feeds = conversion.onnx_feeds(
        model_input(test, PENGUINS), conversion.convert(model, PENGUINS, "classification").feeds, PENGUINS
    )
    probabilities = {}
    for decimals in (None, 1):
        converted = conversion.convert(model, PENGUINS, "classification", decimals)
        probabilities[decimals] = onnxruntime.InferenceSession(converted.model).run(None, feeds)[1]
    assert np.array_equal(
        probabilities[1], (probabilities[None].astype(np.float64) * 10).round().astype(np.float32) / 10
    )
    assert not np.array_equal(probabilities[1], probabilities[None])
    with pytest.raises(ConversionError, match=r"probabilities differ from scikit-learn's by up to 5\.00e-02"):
        conversion.parity(model, converted, test, PENGUINS, config.Tolerance(absolute=1e-3, relative=0.0))


def test_rounding_in_the_graph_does_not_overflow_a_float32_near_its_limit():
    values = [onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, [None]) for name in "xy"]
    graph = onnx.helper.make_graph([onnx.helper.make_node("Identity", ["x"], ["y"])], "y", values[:1], values[1:])
    conversion.round_output(graph, "y", 5)
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17)], ir_version=8)
    rounded = onnxruntime.InferenceSession(model.SerializeToString()).run(
        None, {"x": np.array([3.3e38, -3.3e38, 0.123456], np.float32)}
    )
    assert rounded[0].tolist() == pytest.approx([3.3e38, -3.3e38, 0.12346])


def test_a_regression_outside_the_tolerance_fails_naming_the_difference():
    train = synthetic_frame(ODD_NAMES, rows=120, seed=4)
    model = fit_reference(train, REGRESSION, ODD_NAMES)
    converted = conversion.convert(model, ODD_NAMES, "regression")
    other = fit_reference(synthetic_frame(ODD_NAMES, rows=120, seed=9), REGRESSION, ODD_NAMES)
    with pytest.raises(ConversionError, match=r"ONNX predictions differ from scikit-learn's by up to .*first: row"):
        conversion.parity(other, converted, train, ODD_NAMES, config.Tolerance(absolute=1e-6, relative=0.0))


class Unconvertible(TransformerMixin, BaseEstimator):
    def fit(self, X, y=None):
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X):
        return X


def test_a_transformer_without_a_converter_fails_in_one_line_saying_what_to_add(splits):
    train, _ = splits
    model = fit_reference(train, config.Params(), PENGUINS)
    unconvertible = Pipeline([*model.steps[:-1], ("mine", Unconvertible().fit(np.zeros((1, 1)))), model.steps[-1]])
    with pytest.raises(ConversionError) as caught:
        conversion.convert(unconvertible, PENGUINS, "classification")
    message = str(caught.value)
    assert "Unconvertible has no ONNX converter" in message and "ONNX_CONVERTERS" in message
    assert "\n" not in message


def test_the_custom_examples_transformer_converts_with_its_own_converter(splits, monkeypatch):
    """The penguins-custom example's BillRatio, fitted and exported with the converter beside it."""
    custom = load_module(EXAMPLES / "penguins-custom" / "features.py", "penguins_custom_features")
    monkeypatch.setattr(features, "ONNX_CONVERTERS", custom.ONNX_CONVERTERS)
    monkeypatch.setattr(features, "build_preprocessor", custom.build_preprocessor)
    train, test = splits
    model = fit(train, config.Params(), PENGUINS)
    numeric = model.named_steps["preprocess"].named_transformers_["numeric"]
    assert [name for name, _ in numeric.steps] == ["impute", "bill_ratio"]
    checked = conversion.parity(model, conversion.convert(model, PENGUINS, "classification"), test, PENGUINS, EXACT)
    assert checked.labels_equal and checked.max_difference <= EXACT.absolute


def test_the_opsets_are_listed_in_one_order_so_the_same_model_gives_the_same_bytes(fitted):
    """skl2onnx's order of the opsets differs between processes (dvc.lock changed in a fresh clone)."""
    converted = onnx.load_from_string(conversion.convert(fitted, PENGUINS, "classification").model)
    assert [opset.domain for opset in converted.opset_import] == ["", "ai.onnx.ml"]


def test_a_missing_exported_value_is_a_disagreement_not_a_pass():
    train = synthetic_frame(ODD_NAMES, rows=120, seed=4)
    model = fit_reference(train, REGRESSION, ODD_NAMES)
    features = model_input(train, ODD_NAMES)
    answers = model.predict(features).astype(np.float64)
    answers[7] = np.nan
    with pytest.raises(ConversionError, match=r"PMML predictions differ .* by up to inf .*first: row 8\)"):
        conversion.agreement(
            "PMML", [answers], model, features, ODD_NAMES, config.Tolerance(absolute=1.0, relative=0.0)
        )


def onnx_outputs(model, converted, rows, schema=PENGUINS):
    session = onnxruntime.InferenceSession(converted.model, providers=["CPUExecutionProvider"])
    return session.run(converted.outputs, conversion.onnx_feeds(model_input(rows, schema), converted.feeds, schema))


@pytest.mark.parametrize(
    "estimator", ["RandomForestClassifier", "GradientBoostingClassifier", "DecisionTreeClassifier"]
)
def test_trees_after_a_scaler_compare_the_same_float32_values_as_scikit_learn(splits, estimator):
    """Rows placed on either side of every threshold the first tree compares, in the raw units, through the
    float64 scaler: the graph and scikit-learn take the same branch at each (parity by construction)."""
    train, test = splits
    params = config.parse_params(
        {"features": {"scale_numbers": True}, "model": {"steps": {"c": {"estimator": estimator}}}}
    )
    model = fit_reference(train, params, PENGUINS)
    scaler = model.named_steps["preprocess"].named_transformers_["numeric"].named_steps["scale"]
    tree = (np.ravel(model[-1].estimators_)[0] if hasattr(model[-1], "estimators_") else model[-1]).tree_
    rows = []
    for feature, threshold in zip(tree.feature, tree.threshold, strict=True):
        if 0 <= feature < len(PENGUINS.numeric):  # a number column's threshold, in standardised units
            raw = threshold * scaler.scale_[feature] + scaler.mean_[feature]
            for value in np.nextafter(raw, [-np.inf, np.inf]).tolist() + [raw]:
                row = test.iloc[0].copy()
                row[PENGUINS.numeric[feature]] = value
                rows.append(row)
    probe = pd.DataFrame(rows)
    converted = conversion.convert(model, PENGUINS, "classification")
    labels, probabilities = onnx_outputs(model, converted, probe)
    expected = model.predict_proba(model_input(probe, PENGUINS))
    assert labels.tolist() == model.predict(model_input(probe, PENGUINS)).tolist()
    np.testing.assert_allclose(probabilities, expected, atol=1e-6)


def histogram_boosting(splits, task: str):
    train, test = splits
    schema = PENGUINS if task == "classification" else REGRESSED_PENGUINS
    if task == "regression":
        train, test = (frame.dropna(subset=["body_mass_g"]) for frame in (train, test))
    raw = {"task": task, "model": {"steps": {"m": {"estimator": f"HistGradientBoosting{KINDS[task]}"}}}}
    if task == "regression":
        raw["registry"] = {"gate": {"metric": "r2", "min": 0.1}}
    return schema, test, fit_reference(train, config.parse_params(raw, schema=schema), schema)


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_histogram_gradient_boosting_is_served_on_numbers_and_categories_with_gaps(splits, task):
    schema, test, model = histogram_boosting(splits, task)
    gaps = test.copy()
    gaps.loc[gaps.index[::3], schema.numeric[0]] = np.nan
    gaps.loc[gaps.index[1::3], schema.categorical[-1]] = None
    probe = pd.concat([test, gaps], ignore_index=True)
    converted = conversion.convert(model, schema, task, 5)
    tolerance = config.Tolerance(absolute=1e-5, relative=1e-6)
    assert conversion.parity(model, converted, probe, schema, tolerance).rows == len(probe)


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_histogram_boosting_takes_every_branch_at_its_float64_thresholds(splits, task):
    """Rows exactly at each threshold and a hair above, where a float32 threshold would send one of the two
    the wrong way."""
    schema, test, model = histogram_boosting(splits, task)
    rows = []
    for predictor in np.ravel(model[-1]._predictors):
        for node in predictor.nodes[~predictor.nodes["is_leaf"].astype(bool)]:
            feature, threshold = int(node["feature_idx"]), float(node["num_threshold"])
            if feature < len(schema.numeric):
                for value in (threshold, np.nextafter(threshold, np.inf)):
                    row = test.iloc[1].copy()
                    row[schema.numeric[feature]] = value
                    rows.append(row)
    probe = pd.DataFrame(rows)
    converted = conversion.convert(model, schema, task)
    tolerance = config.Tolerance(absolute=1e-6, relative=1e-6)  # the leaves are added in float32: no more
    assert conversion.parity(model, converted, probe, schema, tolerance).rows == len(probe)


NESTED = {
    "classification": [
        {"estimator": "CalibratedClassifierCV",
         "params": {"estimator": {"estimator": "LinearSVC", "params": {"C": 0.5}}}},
        {"estimator": "BaggingClassifier",
         "params": {"estimator": {"estimator": "LogisticRegression"}, "n_estimators": 5}},
        {"estimator": "AdaBoostClassifier", "params": {"estimator": {"estimator": "DecisionTreeClassifier",
                                                                      "params": {"max_depth": 2}}}},
        {"estimator": "StackingClassifier", "params": {"estimators": {
            "forest": {"estimator": "RandomForestClassifier", "params": {"n_estimators": 10}},
            "linear": {"estimator": "LogisticRegression"}}}},
        {"estimator": "VotingClassifier", "params": {"voting": "soft", "estimators": {
            "forest": {"estimator": "RandomForestClassifier", "params": {"n_estimators": 10}},
            "linear": {"estimator": "LogisticRegression"}}}},
    ],
    "regression": [
        {"estimator": "TransformedTargetRegressor", "params": {"regressor": {"estimator": "Ridge"},
                                                                "func": "numpy.log", "inverse_func": "numpy.exp"}},
        {"estimator": "TransformedTargetRegressor", "params": {"regressor": {"estimator": "RandomForestRegressor"},
                                                                "transformer": {"estimator": "StandardScaler"}}},
        {"estimator": "VotingRegressor", "params": {"estimators": {"ridge": {"estimator": "Ridge"},
                                                                   "svr": {"estimator": "SVR"}}}},
    ],
}  # fmt: skip
KINDS = {"classification": "Classifier", "regression": "Regressor"}
REGRESSED_PENGUINS = penguins_regression()


@pytest.mark.parametrize(("task", "step"), [(task, step) for task, steps in NESTED.items() for step in steps], ids=str)
def test_a_nested_model_is_converted_and_agrees_with_scikit_learn(splits, task, step):
    train, test = splits
    schema = PENGUINS if task == "classification" else REGRESSED_PENGUINS
    if task == "regression":
        train, test = (frame.dropna(subset=["body_mass_g"]) for frame in (train, test))
    raw = {"task": task, "features": {"scale_numbers": True}, "model": {"steps": {"m": step}}}
    if task == "regression":
        raw["registry"] = {"gate": {"metric": "r2", "min": 0.1}}
    params = config.parse_params(raw, schema=schema)
    model = fit_reference(train, params, schema)
    converted = conversion.convert(model, schema, task, 5)
    tolerance = config.Tolerance(absolute=1e-5, relative=1e-6)
    assert conversion.parity(model, converted, test, schema, tolerance).rows == len(test)


def test_a_predictor_whose_converter_features_registers_is_fed_float32(monkeypatch):
    """skl2onnx's convention for a converter of another library (onnxmltools' LightGBM and XGBoost ones)."""

    class Registered(LinearRegression):
        pass

    assert not conversion.computes_in_float32(Pipeline([("scale", MinMaxScaler()), ("r", LinearRegression())]))
    registered = {Registered: (calculate_linear_regressor_output_shapes, convert_sklearn_linear_regressor)}
    monkeypatch.setattr(features, "ONNX_CONVERTERS", registered)
    assert conversion.computes_in_float32(Pipeline([("scale", MinMaxScaler()), ("r", Registered())]))


@pytest.mark.parametrize(
    "settings", [{}, {"priors": "empirical"}, {"shrink_threshold": 0.5}, {"metric": "manhattan"}], ids=str
)
@pytest.mark.parametrize("scaled", [False, True])
def test_nearest_centroid_gives_scikit_learns_labels_and_probabilities_in_float64(splits, settings, scaled):
    train, test = splits
    step = {"estimator": "NearestCentroid", "params": settings}
    params = config.parse_params({"features": {"scale_numbers": scaled}, "model": {"steps": {"m": step}}})
    model = fit_reference(train, params, PENGUINS)
    converted = conversion.convert(model, PENGUINS, "classification")
    assert converted.class_scores == (None if settings.get("metric") == "manhattan" else "probabilities")
    checked = conversion.parity(model, converted, test, PENGUINS, config.Tolerance(absolute=1e-12))
    assert checked.rows == len(test) and checked.labels_equal


@pytest.mark.parametrize("estimator", ["CCA", "PLSCanonical"])
def test_a_cross_decomposition_of_one_component_predicts_as_scikit_learn(splits, estimator):
    train, test = (frame.dropna(subset=["body_mass_g"]) for frame in splits)
    raw = {"task": "regression", "registry": {"gate": {"metric": "r2", "min": 0.1}},
           "model": {"steps": {"m": {"estimator": estimator, "params": {"n_components": 1}}}}}  # fmt: skip
    params = config.parse_params(raw, schema=REGRESSED_PENGUINS)
    model = fit_reference(train, params, REGRESSED_PENGUINS)
    converted = conversion.convert(model, REGRESSED_PENGUINS, "regression")
    tolerance = config.Tolerance(absolute=0.0, relative=1e-12)
    assert conversion.parity(model, converted, test, REGRESSED_PENGUINS, tolerance).rows == len(test)


@pytest.mark.parametrize("classes", [("Adelie", "Chinstrap", "Gentoo"), ("Adelie", "Gentoo")], ids=len)
@pytest.mark.parametrize("scaled", [False, True])
def test_a_gaussian_process_classifier_gives_scikit_learns_labels_and_probabilities(splits, classes, scaled):
    """One-vs-rest Laplace models, or one for two classes; its erf in float64 (onnxruntime's is float32)."""
    schema = replace(PENGUINS, target=replace(PENGUINS.target, categories=classes))
    train, test = (frame[frame["species"].isin(classes)] for frame in splits)
    params = config.parse_params(
        {"features": {"scale_numbers": scaled}, "model": {"steps": {"m": {"estimator": "GaussianProcessClassifier"}}}},
        schema=schema,
    )
    model = fit_reference(train, params, schema)
    converted = conversion.convert(model, schema, "classification")
    checked = conversion.parity(model, converted, test, schema, config.Tolerance(absolute=1e-9))
    assert checked.rows == len(test) and checked.labels_equal


def test_the_float64_erf_of_the_graph_is_scipys_to_1e_13():
    values = np.concatenate([np.linspace(-8.0, 8.0, 4001), [0.0, -1e-12, 1e-300, 6.0]])[:, None]
    erf = converters._erf(OnnxIdentity("x", op_version=17), np.float64, 17)
    graph = OnnxIdentity(erf, op_version=17, output_names=["y"]).to_onnx({"x": values}, target_opset=17)
    session = onnxruntime.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(None, {"x": values})[0], scipy.special.erf(values), rtol=0, atol=1e-13)
