"""The fitted pipeline as ONNX, and the proof that it computes what scikit-learn does.

Shared by `register` (a model that cannot be served this way never takes the champion alias) and `export`
(which writes the serving bundle). The graph is skl2onnx's, with one [N, 1] input per column: float64 for
numbers, strings for categories.

Precision: scikit-learn computes in float64, so the graph does too, with one exception that copies
scikit-learn. Its decision trees (and the forests and boosted ensembles made of them) cast their input to
float32 before comparing it with a threshold; the graph casts at that very point, after the steps before
the trees (imputation, scaling, your transformers) have run in float64 as they do in scikit-learn, so both
compare the same float32 values with thresholds skl2onnx rounds for exactly that comparison. Models whose
ONNX operators only compute in float32 (support vector machines, some linear classifiers) get the same
cast before them; their parity is then within the tolerance rather than exact. So do the models whose
converters you register in features.ONNX_CONVERTERS (LightGBM's and XGBoost's from onnxmltools take float32
only; XGBoost itself computes in float32, LightGBM in float64: README, "Gradient-boosting libraries").
"""

from __future__ import annotations

import copy
import math
import re
from dataclasses import dataclass

import numpy as np
import onnx
import onnxruntime
import pandas as pd
from skl2onnx import to_onnx
from skl2onnx._supported_operators import sklearn_operator_name_map
from skl2onnx.common._registration import get_converter
from skl2onnx.common.data_types import DoubleTensorType, StringTensorType
from skl2onnx.common.exceptions import MissingConverter, MissingShapeCalculator
from skl2onnx.sklapi import CastTransformer
from sklearn.base import BaseEstimator, is_classifier, is_regressor
from sklearn.ensemble import VotingClassifier
from sklearn.ensemble._forest import BaseForest
from sklearn.ensemble._gb import BaseGradientBoosting
from sklearn.pipeline import Pipeline
from sklearn.svm._base import BaseLibSVM
from sklearn.tree._classes import BaseDecisionTree

from mlproject import config, converters, features, stage
from mlproject.estimators import ClassScores, class_scores, nested_estimators
from mlproject.inputs import model_input
from mlproject.schema import DatasetSchema
from mlserve import manifest as contract

TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}
REGRESSION_OUTPUT = "predictions"
# Models that compare in float32: scikit-learn's trees cast their input to float32 themselves.
FLOAT32_MODELS = (BaseDecisionTree, BaseForest, BaseGradientBoosting)


class ConversionError(stage.StageError, RuntimeError):
    """The model cannot be served faithfully as ONNX; the message says why."""


@dataclass(frozen=True)
class Converted:
    """The ONNX model, its feeds (one input per column, under ONNX's name), its outputs, and for a classifier
    what its second output holds: probabilities, decision_function's scores, or nothing (labels only)."""

    model: bytes
    feeds: list[str]
    outputs: list[str]
    class_scores: ClassScores | None = None


def class_scores_of(model: Pipeline, task: str) -> ClassScores | None:
    """What a classifier gives beside its labels, as scikit-learn offers it."""
    return class_scores(model) if task == "classification" else None


def computes_in_float32(estimator: BaseEstimator) -> bool:
    """A tree inside, a support vector machine with probabilities (onnxruntime's SVM operator is float32), or
    a predictor converted by a converter of features.ONNX_CONVERTERS (skl2onnx's convention: float32 in)."""
    return any(
        isinstance(part, FLOAT32_MODELS)
        or (isinstance(part, BaseLibSVM) and getattr(part, "probability", None) is True)
        or (type(part) in features.ONNX_CONVERTERS and (is_classifier(part) or is_regressor(part)))
        for part in nested_estimators(estimator)
    )


def graphed(model: Pipeline) -> Pipeline:
    """What skl2onnx converts: the fitted model, with a cast to float32 before a predictor that computes in
    float32, and a voting classifier's `flatten_transform` off (it shapes transform(), which the graph never
    computes, and skl2onnx refuses it on). Only the graph sees these; the model itself is left as it is."""
    predictor = model.steps[-1][1]
    votes = [part for part in nested_estimators(predictor) if isinstance(part, VotingClassifier)]
    if votes:
        predictor = copy.deepcopy(predictor)
        for part in nested_estimators(predictor):
            if isinstance(part, VotingClassifier):
                part.flatten_transform = False
    steps = [*model.steps[:-1], (model.steps[-1][0], predictor)]
    if computes_in_float32(predictor):
        steps.insert(-1, ("float32", CastTransformer(dtype=np.float32).fit(np.zeros((1, 1)))))
    return Pipeline(steps)


def _options(model: Pipeline, task: str) -> dict:
    """Plain outputs: no ZipMap of probabilities, and a binary SVM's scores as decision_function's, where the
    converter has these options."""
    predictor = model.steps[-1][1]
    if task != "classification":
        return {}
    alias = sklearn_operator_name_map.get(type(predictor))
    allowed = get_converter(alias).get_allowed_options() if alias else None  # None: any option
    wanted = {"zipmap": False, "raw_scores": class_scores_of(model, task) == "decision_function"}
    return {id(predictor): {key: value for key, value in wanted.items() if allowed is None or key in allowed}}


def to_onnx_model(model: Pipeline, schema: DatasetSchema, task: str) -> onnx.ModelProto:
    """skl2onnx's graph of the model, in float64 but for what must be float32; its failures in one line."""
    converters.register_all()
    inputs = [
        (name, DoubleTensorType([None, 1]) if name in schema.numeric else StringTensorType([None, 1]))
        for name in schema.feature_names
    ]
    final_types = None if task == "classification" else [(REGRESSION_OUTPUT, DoubleTensorType([None, 1]))]
    converted = graphed(model)
    try:
        return to_onnx(
            converted, initial_types=inputs, options=_options(converted, task), target_opset=TARGET_OPSET,
            final_types=final_types,
        )  # fmt: skip
    except (MissingShapeCalculator, MissingConverter) as error:
        named = re.search(r"<class '([^']+)'>", str(error))
        what = named.group(1) if named else "a step of the model"
        raise ConversionError(
            f"{what} has no ONNX converter: give it a shape calculator and a converter in ONNX_CONVERTERS "
            "of src/mlproject/features.py (README: Custom transformers)"
        ) from error
    except Exception as error:  # noqa: BLE001 - skl2onnx raises many types for what it cannot convert
        raise ConversionError(f"skl2onnx cannot convert the model: {stage.chain_of(error)}") from error


def convert(model: Pipeline, schema: DatasetSchema, task: str, decimals: int | None = None) -> Converted:
    """The ONNX model and how to feed it; with `decimals`, its probabilities, scores or predictions are
    rounded to that many (`served_decimals`).

    skl2onnx renames columns that are not valid ONNX names (`a/b` -> `a_b`); the feeds keep the user's
    names. (Regrouping the inputs into one numbers and one categories tensor was measured: 1% more
    single-row throughput, not worth its graph surgery.)
    """
    onnx_model = to_onnx_model(model, schema, task)
    graph = onnx_model.graph
    scores = class_scores_of(model, task)
    if task == "classification" and scores is None:
        del graph.output[1:]  # a classifier that offers no scores: its labels only
    elif scores == "decision_function":
        scores_output = rename_output(graph, graph.output[1].name, "scores")
        if len(model.classes_) == 2:
            keep_positive_column(graph, scores_output)  # scikit-learn gives one score per row
    if decimals is not None and (task == "regression" or scores is not None):
        round_output(graph, graph.output[-1].name, decimals)
    # skl2onnx's order of the opsets is not the same in every process (a fresh clone's export differed in
    # that alone): sorted, the same model gives the same bytes.
    opsets = sorted(onnx_model.opset_import, key=lambda opset: opset.domain)
    del onnx_model.opset_import[:]
    onnx_model.opset_import.extend(opsets)
    feeds = [value.name for value in graph.input]
    return Converted(onnx_model.SerializeToString(), feeds, [output.name for output in graph.output], scores)


def served_decimals(tolerance: config.Tolerance) -> int | None:
    """The decimals the parity check vouches for: 5 for an absolute tolerance of 1e-5 (None for 0: every digit)."""
    return math.ceil(-math.log10(tolerance.absolute)) if tolerance.absolute > 0 else None


def _rename_output(graph: onnx.GraphProto, output: str, new: str) -> None:
    """Make the node that computes `output` compute `new` instead (the graph's output is left to the caller)."""
    for node in graph.node:
        for at, name in enumerate(node.output):
            if name == output:
                node.output[at] = new


def rename_output(graph: onnx.GraphProto, output: str, new: str) -> str:
    """Give a graph output another name (with a suffix if the graph already uses it); returns the name."""
    taken = {name for node in graph.node for name in (*node.input, *node.output)} | {i.name for i in graph.initializer}
    while new in taken:
        new += "_"
    _rename_output(graph, output, new)
    next(value for value in graph.output if value.name == output).name = new
    return new


def round_output(graph: onnx.GraphProto, output: str, decimals: int) -> None:
    """Round an output inside the graph, so the server writes the numbers the parity check compared: a
    forest's float32 sum 0.87999904 becomes 0.88. Rounded in float64, where no float32 value overflows; the
    output keeps its type."""
    steps = ("unrounded", "scale", "double", "scaled", "whole", "back")
    unrounded, scale, double, scaled, whole, back = (f"{output}_{step}" for step in steps)
    declared = next(value for value in graph.output if value.name == output).type.tensor_type.elem_type
    _rename_output(graph, output, unrounded)
    graph.initializer.append(onnx.helper.make_tensor(scale, onnx.TensorProto.DOUBLE, [], [10.0**decimals]))
    graph.node.extend([
        onnx.helper.make_node("Cast", [unrounded], [double], to=onnx.TensorProto.DOUBLE),
        onnx.helper.make_node("Mul", [double, scale], [scaled]),
        onnx.helper.make_node("Round", [scaled], [whole]),
        onnx.helper.make_node("Div", [whole, scale], [back]),
        onnx.helper.make_node("Cast", [back], [output], to=declared),
    ])  # fmt: skip


def keep_positive_column(graph: onnx.GraphProto, output: str) -> None:
    """A binary classifier's [N, 2] scores -> the positive class's [N, 1], as decision_function gives them."""
    both, column = f"{output}_both", f"{output}_positive_column"
    _rename_output(graph, output, both)
    graph.initializer.append(onnx.helper.make_tensor(column, onnx.TensorProto.INT64, [1], [1]))
    graph.node.append(onnx.helper.make_node("Gather", [both, column], [output], axis=1))
    shape = next(value for value in graph.output if value.name == output).type.tensor_type.shape
    shape.dim[1].dim_value = 1


def onnx_feeds(inputs: pd.DataFrame, feeds: list[str], schema: DatasetSchema) -> dict[str, np.ndarray]:
    """The ONNX model's inputs from the model's input columns (`inputs.model_input`), one [N, 1] array each."""
    return {
        feed: inputs[[column]].to_numpy(dtype=np.float64 if column in schema.numeric else object)
        for feed, column in zip(feeds, schema.feature_names, strict=True)
    }


def _largest_difference(onnx_values: np.ndarray, sklearn_values: np.ndarray, tolerance: config.Tolerance) -> tuple:
    """The largest absolute difference, and the first row beyond the tolerance (None if there is none)."""
    sklearn_values = np.asarray(sklearn_values, dtype=np.float64).reshape(len(onnx_values), -1)
    difference = np.abs(onnx_values.astype(np.float64).reshape(sklearn_values.shape) - sklearn_values)
    allowed = tolerance.absolute + tolerance.relative * np.abs(sklearn_values)
    beyond = np.flatnonzero((~(difference <= allowed)).any(axis=1))  # NaN is beyond
    return float(np.nan_to_num(difference, nan=np.inf).max(initial=0.0)), (int(beyond[0]) if beyond.size else None)


def parity(
    model: Pipeline, converted: Converted, test: pd.DataFrame, schema: DatasetSchema, tolerance: config.Tolerance
) -> contract.Parity:
    """Compare the ONNX model with scikit-learn on every test row; raise ConversionError naming the first
    disagreement."""
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1  # as the server runs it; and no idle threads spinning beside the caller's
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        session = onnxruntime.InferenceSession(converted.model, options, providers=["CPUExecutionProvider"])
        features = model_input(test, schema)
        results = session.run(converted.outputs, onnx_feeds(features, converted.feeds, schema))
    except Exception as error:  # noqa: BLE001 - onnxruntime's own exception types
        raise ConversionError(f"onnxruntime cannot run the converted model: {stage.chain_of(error)}") from error
    return agreement("ONNX", results, model, features, schema, tolerance, converted.class_scores)


def sklearn_scores(model: Pipeline, features: pd.DataFrame, kind: ClassScores | None) -> np.ndarray | None:
    if kind == "probabilities":
        return model.predict_proba(features)
    return model.decision_function(features) if kind == "decision_function" else None


def agreement(
    kind: str,
    results: list[np.ndarray],
    model: Pipeline,
    features: pd.DataFrame,
    schema: DatasetSchema,
    tolerance: config.Tolerance,
    class_scores: ClassScores | None = "probabilities",
) -> contract.Parity:
    """An exported model's outputs ([labels, scores] or [predictions]) against scikit-learn's."""
    bound = f"tolerance {tolerance.absolute:.0e} + {tolerance.relative:.0e} x |value|"
    if schema.task == "regression":
        largest, row = _largest_difference(results[0], model.predict(features), tolerance)
        if row is not None:
            raise ConversionError(
                f"{kind} predictions differ from scikit-learn's by up to {largest:.2e} ({bound}; first: row {row + 1})"
            )
        return contract.Parity(rows=len(features), max_difference=largest)
    labels = model.predict(features)
    mismatched = np.flatnonzero(results[0].astype(str).ravel() != labels.astype(str))
    if mismatched.size:
        row = int(mismatched[0])
        raise ConversionError(
            f"{kind} and scikit-learn disagree on {mismatched.size} of {len(features)} test rows' labels "
            f"(first: row {row + 1}, {results[0].ravel()[row]!r} vs {labels[row]!r})"
        )
    expected = sklearn_scores(model, features, class_scores)
    if expected is None:
        return contract.Parity(rows=len(features), max_difference=0.0, labels_equal=True)
    largest, row = _largest_difference(results[1], expected, tolerance)
    if row is not None:
        what = "probabilities" if class_scores == "probabilities" else "decision_function scores"
        raise ConversionError(
            f"{kind} {what} differ from scikit-learn's by up to {largest:.2e} on the test split ({bound})"
        )
    return contract.Parity(rows=len(features), max_difference=largest, labels_equal=True)
