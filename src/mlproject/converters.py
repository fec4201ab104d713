"""ONNX converters the template adds to skl2onnx's, registered the documented way
(`skl2onnx.update_registered_converter`): where skl2onnx has none, or where its own cannot serve this
template's float64 graph.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import numpy as np
from onnx import TensorProto, numpy_helper
from skl2onnx import update_registered_converter
from skl2onnx.algebra.onnx_operator import OnnxSubEstimator
from skl2onnx.algebra.onnx_ops import (
    OnnxAbs,
    OnnxAdd,
    OnnxArgMax,
    OnnxArgMin,
    OnnxCast,
    OnnxConcat,
    OnnxDiv,
    OnnxErf,
    OnnxExp,
    OnnxExpand,
    OnnxGather,
    OnnxGreater,
    OnnxIdentity,
    OnnxLess,
    OnnxLog,
    OnnxMatMul,
    OnnxMax,
    OnnxMin,
    OnnxMul,
    OnnxNeg,
    OnnxNot,
    OnnxPow,
    OnnxReciprocal,
    OnnxReduceL1,
    OnnxReduceSum,
    OnnxReduceSumSquare,
    OnnxReshape,
    OnnxShape,
    OnnxSign,
    OnnxSlice,
    OnnxSoftmax,
    OnnxSqrt,
    OnnxSub,
    OnnxTanh,
    OnnxUnsqueeze,
)
from skl2onnx.common.data_types import DoubleTensorType, guess_proto_type
from skl2onnx.common.shape_calculator import (
    calculate_linear_classifier_output_shapes,
    calculate_linear_regressor_output_shapes,
)
from skl2onnx.operator_converters._gp_kernels import convert_kernel, convert_kernel_diag
from skl2onnx.operator_converters.common import concatenate_variables
from skl2onnx.operator_converters.cross_decomposition import convert_pls_regression
from skl2onnx.operator_converters.imputer_op import convert_sklearn_imputer
from skl2onnx.operator_converters.random_forest import (
    convert_sklearn_random_forest_classifier,
    convert_sklearn_random_forest_regressor_converter,
)
from skl2onnx.operator_converters.sgd_classifier import convert_sklearn_sgd_classifier as _SKL2ONNX_LINEAR
from skl2onnx.operator_converters.support_vector_machines import (
    convert_sklearn_svm_classifier,
)
from skl2onnx.shape_calculators.cross_decomposition import calculate_pls_regression_output_shapes
from skl2onnx.shape_calculators.imputer import calculate_sklearn_imputer_output_shapes
from sklearn.compose import TransformedTargetRegressor
from sklearn.cross_decomposition import CCA, PLSCanonical
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.gaussian_process import GaussianProcessClassifier
from sklearn.gaussian_process._gpc import COEFS, LAMBDAS
from sklearn.impute import SimpleImputer
from sklearn.kernel_ridge import KernelRidge
from sklearn.linear_model import (
    PassiveAggressiveClassifier,
    Perceptron,
    RidgeClassifier,
    RidgeClassifierCV,
    SGDClassifier,
)
from sklearn.neighbors import NearestCentroid
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from sklearn.svm import SVC, SVR, LinearSVC, NuSVC, NuSVR

from mlproject import features

Converter = Callable[..., None]
LINEAR_SCORES = (LinearSVC, RidgeClassifier, RidgeClassifierCV, SGDClassifier, Perceptron, PassiveAggressiveClassifier)


def convert_simple_imputer(scope, operator, container) -> None:
    """Numbers in float64: Where(IsNaN(x), statistics, x). skl2onnx's converter uses ONNX's Imputer, which
    onnxruntime runs in float32 only, with the statistics rounded to float32."""
    if not isinstance(operator.inputs[0].type, DoubleTensorType):
        convert_sklearn_imputer(scope, operator, container)
        return
    imputer = operator.raw_operator
    if not (isinstance(imputer.missing_values, float) and np.isnan(imputer.missing_values)):
        convert_sklearn_imputer(scope, operator, container)
        return
    numbers = concatenate_variables(scope, operator.inputs, container)
    statistics, missing = scope.get_unique_variable_name("statistics"), scope.get_unique_variable_name("missing")
    container.add_initializer(
        statistics, TensorProto.DOUBLE, [1, imputer.statistics_.size], imputer.statistics_.astype(np.float64).tolist()
    )
    container.add_node("IsNaN", [numbers], [missing], name=scope.get_unique_operator_name("IsNaN"))
    container.add_node(
        "Where", [missing, statistics, numbers], [operator.outputs[0].full_name],
        name=scope.get_unique_operator_name("Where"),
    )  # fmt: skip


def _classes_tensor(scope, container, classes: np.ndarray) -> str:
    name = scope.get_unique_variable_name("classes")
    if classes.dtype.kind in "iub":
        container.add_initializer(name, TensorProto.INT64, [len(classes)], classes.astype(np.int64).tolist())
    else:
        container.add_initializer(name, TensorProto.STRING, [len(classes)], [str(c).encode() for c in classes])
    return name


def convert_linear_scores(scope, operator, container) -> None:
    """A linear classifier without probabilities (LinearSVC, RidgeClassifier, SGDClassifier's hinge, ...) in
    the input's precision: scores = X @ coef.T + intercept, as decision_function; the label is the class of
    the largest score, or for two classes the second when its score is positive. (skl2onnx's LinearClassifier
    runs in float32 only, and cannot convert LinearSVC at all in 1.20: its parser asks for an option the
    LinearSVC converter does not declare.)"""
    model, numbers = operator.raw_operator, operator.inputs[0].full_name
    if hasattr(model, "predict_proba"):  # SGDClassifier with a probabilistic loss: skl2onnx's own converter
        return _SKL2ONNX_LINEAR(scope, operator, container)
    proto = guess_proto_type(operator.inputs[0].type)
    dtype = np.float64 if proto == TensorProto.DOUBLE else np.float32
    name = scope.get_unique_variable_name
    coefficients, intercept, product, scores = name("coef"), name("intercept"), name("product"), name("margins")
    weights = np.atleast_2d(model.coef_).T.astype(dtype)  # [features, scores]
    container.add_initializer(coefficients, proto, list(weights.shape), weights.ravel().tolist())
    container.add_initializer(
        intercept, proto, [weights.shape[1]], np.broadcast_to(model.intercept_, weights.shape[1]).astype(dtype).tolist()
    )
    container.add_node("MatMul", [numbers, coefficients], [product], name=scope.get_unique_operator_name("MatMul"))
    container.add_node("Add", [product, intercept], [scores], name=scope.get_unique_operator_name("Add"))
    classes, index = _classes_tensor(scope, container, np.asarray(model.classes_)), name("index")
    if len(model.classes_) == 2:  # one score: the positive class's; [-s, s] keeps the [N, classes] shape
        negative, zero, positive = name("negative"), name("zero"), name("positive")
        container.add_node("Neg", [scores], [negative], name=scope.get_unique_operator_name("Neg"))
        container.add_node("Concat", [negative, scores], [operator.outputs[1].full_name], axis=1,
                           name=scope.get_unique_operator_name("Concat"))  # fmt: skip
        container.add_initializer(zero, proto, [], [0.0])
        container.add_node("Greater", [scores, zero], [positive], name=scope.get_unique_operator_name("Greater"))
        flat = name("flat")
        container.add_node(
            "Cast", [positive], [flat], to=TensorProto.INT64, name=scope.get_unique_operator_name("Cast")
        )
        shape = name("shape")
        container.add_initializer(shape, TensorProto.INT64, [1], [-1])
        container.add_node("Reshape", [flat, shape], [index], name=scope.get_unique_operator_name("Reshape"))
    else:
        container.add_node("Identity", [scores], [operator.outputs[1].full_name],
                           name=scope.get_unique_operator_name("Identity"))  # fmt: skip
        container.add_node("ArgMax", [scores], [index], axis=1, keepdims=0,
                           name=scope.get_unique_operator_name("ArgMax"))  # fmt: skip
    container.add_node("Gather", [classes, index], [operator.outputs[0].full_name], axis=0,
                       name=scope.get_unique_operator_name("Gather"))  # fmt: skip


def histogram_boosting(converter: Converter) -> Converter:
    """skl2onnx's converter for HistGradientBoosting, with three fixes on the way to the graph.

    - skl2onnx 1.20 gives a leaf's `nodes_missing_value_tracks_true` as Python's False
      (common/tree_ensemble.py, add_tree_to_attribute_pairs_hist_gradient_boosting), and protobuf refuses a
      bool in an integer list since 7.34 ("Expected an int, got a boolean"): the flags become integers.
      (Fixed on skl2onnx's main branch, not in a release yet.)
    - HistGradientBoosting compares float64 values with float64 thresholds, unlike scikit-learn's other
      trees. With a float64 input, thresholds, leaf weights and base values go into ai.onnx.ml 3's
      `*_as_tensor` attributes as they are (and the classifier's converter is told version 3, or it rounds
      them to float32 itself), so the graph takes every branch scikit-learn takes.
    - The ensemble still writes its sums as float32 (its outputs' type in ai.onnx.ml 3): a Cast gives the graph
      the float64 it declares.
    """

    def convert(scope, operator, container) -> None:
        model = operator.raw_operator
        splits = [node for trees in model._predictors for tree in trees for node in tree.nodes if not node["is_leaf"]]
        if any(node["is_categorical"] for node in splits):
            raise NotImplementedError("skl2onnx converts HistGradientBoosting's own categorical splits wrongly")
        add_node = container.add_node
        double = isinstance(operator.inputs[0].type, DoubleTensorType)

        def add_node_fixed(op_type, inputs, outputs, *rest, **attributes):
            for key, value in attributes.items():
                if isinstance(value, list) and any(isinstance(item, bool | np.bool_) for item in value):
                    attributes[key] = [int(item) for item in value]
            if not (double and op_type in ("TreeEnsembleClassifier", "TreeEnsembleRegressor")):
                return add_node(op_type, inputs, outputs, *rest, **attributes)
            for key in ("nodes_values", "class_weights", "target_weights", "base_values"):
                if key in attributes:
                    exact = np.asarray(attributes.pop(key), dtype=np.float64)
                    attributes[f"{key}_as_tensor"] = numpy_helper.from_array(exact)
            attributes["op_version"] = 3
            outputs = [outputs] if isinstance(outputs, str) else list(outputs)
            sums, declared = scope.get_unique_variable_name("float32_sums"), outputs[-1]
            add_node(op_type, inputs, [*outputs[:-1], sums], *rest, **attributes)
            cast = scope.get_unique_operator_name("Cast")
            return add_node("Cast", [sums], [declared], to=TensorProto.DOUBLE, name=cast)

        container.add_node = add_node_fixed
        try:
            if isinstance(model, HistGradientBoostingClassifier) and double:
                converter(scope, operator, container, op_version=3)
            else:
                converter(scope, operator, container)
        finally:
            del container.add_node  # the class's own method again

    return convert


def _rows_of(numbers, version: int):
    """The number of rows of `numbers`, as a 1-element int64 tensor."""
    return OnnxSlice(OnnxShape(numbers, op_version=version), np.array([0]), np.array([1]), op_version=version)


def _constant(values: np.ndarray, numbers, version: int):
    """`values` (one row) repeated for every row of `numbers`."""
    columns = np.array(values.shape[1:], dtype=np.int64)
    return OnnxExpand(values, OnnxConcat(_rows_of(numbers, version), columns, axis=0, op_version=version),
                      op_version=version)  # fmt: skip


def _dtype_of(variable) -> type[np.float64] | type[np.float32]:
    return np.float64 if isinstance(variable.type, DoubleTensorType) else np.float32


def convert_dummy_classifier(scope, operator, container) -> None:
    """A baseline that answers the same for every row: its class and its probabilities (the priors, or the
    majority or constant class for certain)."""
    model, numbers, version = operator.raw_operator, operator.inputs[0], container.target_opset
    probabilities = np.asarray(model.predict_proba(np.zeros((1, model.n_features_in_))), dtype=_dtype_of(numbers))
    label = model.predict(np.zeros((1, model.n_features_in_)))
    label = label.astype(np.int64) if label.dtype.kind in "iub" else label.astype(object)
    rows = _rows_of(numbers, version)
    OnnxExpand(label, rows, op_version=version, output_names=operator.outputs[:1]).add_to(scope, container)
    OnnxIdentity(
        _constant(probabilities, numbers, version), op_version=version, output_names=operator.outputs[1:2]
    ).add_to(scope, container)


def convert_dummy_regressor(scope, operator, container) -> None:
    """A baseline that answers the same number for every row (the mean, median, a quantile or a constant)."""
    model, numbers, version = operator.raw_operator, operator.inputs[0], container.target_opset
    value = np.asarray(model.constant_, dtype=_dtype_of(numbers)).reshape(1, 1)
    OnnxIdentity(_constant(value, numbers, version), op_version=version, output_names=operator.outputs[:1]).add_to(
        scope, container
    )


def inverse_of(transformer, predicted, version: int):
    """`transformer.inverse_transform(predicted)` as ONNX, for the target transformers that have one here:
    a standard or min-max scaler, or the functions of INVERSES (and none: the identity)."""
    dtype = np.float64
    if isinstance(transformer, StandardScaler):
        scaled = OnnxMul(predicted, np.asarray(transformer.scale_ if transformer.with_std else [1.0], dtype),
                         op_version=version)  # fmt: skip
        return OnnxAdd(scaled, np.asarray(transformer.mean_ if transformer.with_mean else [0.0], dtype),
                       op_version=version)  # fmt: skip
    if isinstance(transformer, MinMaxScaler):
        shifted = OnnxSub(predicted, np.asarray(transformer.min_, dtype), op_version=version)
        return OnnxDiv(shifted, np.asarray(transformer.scale_, dtype), op_version=version)
    inverse = transformer.inverse_func
    if inverse is None:
        return OnnxIdentity(predicted, op_version=version)
    if inverse is np.exp:
        return OnnxExp(predicted, op_version=version)
    if inverse is np.expm1:
        return OnnxSub(OnnxExp(predicted, op_version=version), np.array([1.0], dtype), op_version=version)
    if inverse is np.square:
        return OnnxMul(predicted, predicted, op_version=version)
    raise NotImplementedError(f"no ONNX form of the target's inverse transform {inverse!r}")


def target_inverse_problem(model) -> str | None:
    """Why a TransformedTargetRegressor's inverse transform cannot be converted, or None."""
    transformer, inverse = model.transformer, model.inverse_func
    if transformer is not None:
        ok = isinstance(transformer, StandardScaler | MinMaxScaler)
        return None if ok else "its transformer can be StandardScaler or MinMaxScaler"
    if inverse is None or inverse in (np.exp, np.expm1, np.square):
        return None
    return "its inverse_func can be exp, expm1 or square (with func log, log1p or sqrt)"


def convert_transformed_target_regressor(scope, operator, container) -> None:
    """The inner regressor's prediction, taken back to the target's scale by the inverse transform."""
    model, version = operator.raw_operator, container.target_opset
    dtype = _dtype_of(operator.inputs[0])
    predicted = OnnxSubEstimator(model.regressor_, operator.inputs[0], op_version=version)
    if dtype is np.float32:
        predicted = OnnxCast(predicted, to=TensorProto.DOUBLE, op_version=version)
    back = inverse_of(model.transformer_, predicted, version)
    if dtype is np.float32:
        back = OnnxCast(back, to=TensorProto.FLOAT, op_version=version)
    OnnxIdentity(back, op_version=version, output_names=operator.outputs[:1]).add_to(scope, container)


def _kernel(kind: str, vectors: np.ndarray, gamma: float, coef0: float, degree: float, numbers, version: int):
    """A kernel between the rows and `vectors`, [N, vectors], in the vectors' precision. The rbf distance is
    |x|^2 + |v|^2 - 2 x.v, as libsvm and scikit-learn compute it (scikit-learn then clips it at 0)."""
    dtype = vectors.dtype.type
    dot = OnnxMatMul(numbers, vectors.T.copy(), op_version=version)
    if kind == "linear":
        return dot
    if kind == "rbf":
        rows = OnnxReduceSumSquare(numbers, axes=[1], keepdims=1, op_version=version)
        squared = OnnxSub(OnnxAdd(rows, (vectors**2).sum(axis=1)[None, :], op_version=version),
                          OnnxMul(dot, np.array([2.0], dtype), op_version=version), op_version=version)  # fmt: skip
        squared = OnnxMax(squared, np.array([0.0], dtype), op_version=version)
        return OnnxExp(OnnxMul(squared, np.array([-gamma], dtype), op_version=version), op_version=version)
    inner = OnnxAdd(OnnxMul(dot, np.array([gamma], dtype), op_version=version), np.array([coef0], dtype),
                    op_version=version)  # fmt: skip
    if kind == "sigmoid":
        return OnnxTanh(inner, op_version=version)
    return OnnxPow(inner, np.array([degree], dtype), op_version=version)  # poly


KERNEL_RIDGE_KERNELS = ("linear", "rbf", "poly", "polynomial", "sigmoid")


def convert_kernel_ridge(scope, operator, container) -> None:
    """KernelRidge: the kernel between the rows and the training rows, times the dual coefficients."""
    model, numbers, version = operator.raw_operator, operator.inputs[0], container.target_opset
    if model.kernel not in KERNEL_RIDGE_KERNELS:
        raise NotImplementedError(f"no ONNX form of KernelRidge's kernel {model.kernel!r}")
    dtype = _dtype_of(numbers)
    fitted = np.asarray(model.X_fit_, dtype=dtype)
    gamma = model.gamma if model.gamma is not None else 1.0 / fitted.shape[1]  # scikit-learn's pairwise default
    kind = "poly" if model.kernel == "polynomial" else model.kernel
    kernel = _kernel(kind, fitted, gamma, model.coef0, model.degree, numbers, version)
    coefficients = np.asarray(model.dual_coef_, dtype=dtype).reshape(len(fitted), -1)
    OnnxMatMul(kernel, coefficients, op_version=version, output_names=operator.outputs[:1]).add_to(scope, container)


def convert_svm(scope, operator, container) -> None:
    """A support vector machine in the input's precision (onnxruntime's SVM operators compute in float32): a
    regressor's prediction, or a classifier's labels (libsvm's one-against-one vote) and decision_function
    (scikit-learn's one-against-rest shape). A classifier with probabilities goes to skl2onnx's converter."""
    model, numbers, version = operator.raw_operator, operator.inputs[0], container.target_opset
    if len(getattr(model, "probA_", [])):  # fitted with probability=True (Platt scaling)
        convert_sklearn_svm_classifier(scope, operator, container)
        return
    dtype = _dtype_of(numbers)
    vectors = model.support_vectors_.astype(dtype)
    kernel = _kernel(model.kernel, vectors, model._gamma, model.coef0, model.degree, numbers, version)
    coefficients, intercepts = model._dual_coef_, model._intercept_  # libsvm's own signs
    if isinstance(model, SVR | NuSVR):
        predicted = OnnxAdd(OnnxMatMul(kernel, coefficients.T.astype(dtype), op_version=version),
                            intercepts.astype(dtype), op_version=version)  # fmt: skip
        OnnxIdentity(predicted, op_version=version, output_names=operator.outputs[:1]).add_to(scope, container)
        return
    classes, starts = len(model.classes_), np.concatenate([[0], np.cumsum(model.n_support_)])
    pairs = [(i, j) for i in range(classes) for j in range(i + 1, classes)]
    weights = np.zeros((len(model.support_vectors_), len(pairs)), dtype)  # one column per pair of classes
    for column, (i, j) in enumerate(pairs):
        weights[starts[i] : starts[i + 1], column] = coefficients[j - 1, starts[i] : starts[i + 1]]
        weights[starts[j] : starts[j + 1], column] = coefficients[i, starts[j] : starts[j + 1]]
    decisions = OnnxAdd(OnnxMatMul(kernel, weights, op_version=version), intercepts.astype(dtype), op_version=version)
    first, second = np.zeros((len(pairs), classes), dtype), np.zeros((len(pairs), classes), dtype)
    for row, (i, j) in enumerate(pairs):
        first[row, i], second[row, j] = 1.0, 1.0
    zero = np.array([0.0], dtype)

    def votes(wins_first):
        wins = OnnxCast(wins_first, to=guess_proto_type(numbers.type), op_version=version)
        losses = OnnxSub(np.array([1.0], dtype), wins, op_version=version)
        return OnnxAdd(OnnxMatMul(wins, first, op_version=version), OnnxMatMul(losses, second, op_version=version),
                       op_version=version)  # fmt: skip

    # libsvm's vote: the first class of a pair wins when its decision is positive; the first best class wins
    index = OnnxArgMax(votes(OnnxGreater(decisions, zero, op_version=version)), axis=1, keepdims=0, op_version=version)
    _add_labels(model, index, operator, scope, container)
    if classes == 2:  # scikit-learn's decision_function is libsvm's with the sign flipped; [-s, s] as [N, classes]
        score = OnnxNeg(decisions, op_version=version)
        scores = OnnxConcat(OnnxNeg(score, op_version=version), score, axis=1, op_version=version)
    else:  # _ovr_decision_function: votes, plus the summed confidences squashed into (-1/3, 1/3)
        confidences = OnnxMatMul(decisions, first - second, op_version=version)
        squashed = OnnxDiv(confidences, OnnxMul(np.array([3.0], dtype), OnnxAdd(
            OnnxAbs(confidences, op_version=version), np.array([1.0], dtype), op_version=version), op_version=version),
            op_version=version)  # fmt: skip
        ovr_votes = votes(OnnxNot(OnnxLess(decisions, zero, op_version=version), op_version=version))
        scores = OnnxAdd(ovr_votes, squashed, op_version=version)
    OnnxIdentity(scores, op_version=version, output_names=operator.outputs[1:2]).add_to(scope, container)


def _add_labels(model, index, operator, scope, container) -> None:
    """The first output: the classes at `index`, as int64 for integer classes and as strings otherwise."""
    values = np.asarray(model.classes_)
    labels = values.astype(np.int64) if values.dtype.kind in "iub" else values.astype(object)
    OnnxGather(labels, index, axis=0, op_version=container.target_opset, output_names=operator.outputs[:1]).add_to(
        scope, container
    )


def _distances_to(points: np.ndarray, numbers, reduce, version: int):
    """[N, points]: each row's distance to each point, `reduce` (ReduceL1, ReduceSumSquare) of the differences."""
    return OnnxConcat(*(reduce(OnnxSub(numbers, point[None, :], op_version=version), axes=[1], keepdims=1,
                               op_version=version) for point in points), axis=1, op_version=version)  # fmt: skip


def convert_nearest_centroid(scope, operator, container) -> None:
    """NearestCentroid: the label of the nearest centroid (with uniform priors; scikit-learn's discriminant
    otherwise), and for the euclidean metric its probabilities: a softmax of minus the squared distances in
    units of the within-class spread, plus twice the log priors (scikit-learn's `_decision_function`)."""
    model, numbers, version = operator.raw_operator, operator.inputs[0], container.target_opset
    dtype = _dtype_of(numbers)
    centroids = model.centroids_.astype(dtype)
    # the raw distances predict compares under uniform priors (squared for euclidean: the same order)
    distances = _distances_to(centroids, numbers, OnnxReduceSumSquare if model.metric == "euclidean" else OnnxReduceL1,
                              version)  # fmt: skip
    if model.metric == "euclidean":
        spread = np.where(model.within_class_std_dev_ != 0, model.within_class_std_dev_, 1.0).astype(dtype)
        normalised = OnnxDiv(numbers, spread, op_version=version)
        squared = _distances_to(centroids / spread, normalised, OnnxReduceSumSquare, version)
        log_priors = (2.0 * np.log(model.class_prior_)).astype(dtype)[None, :]
        discriminant = OnnxAdd(OnnxNeg(squared, op_version=version), log_priors, op_version=version)
        scores = OnnxSoftmax(discriminant, axis=1, op_version=version)
    else:  # manhattan gives labels only: the second output is left out of the graph (conversion.convert)
        discriminant = scores = OnnxNeg(distances, op_version=version)
    if np.isclose(model.class_prior_, 1 / len(model.classes_)).all():
        nearest = OnnxArgMin(distances, axis=1, keepdims=0, op_version=version)
    else:
        nearest = OnnxArgMax(discriminant, axis=1, keepdims=0, op_version=version)
    _add_labels(model, nearest, operator, scope, container)
    OnnxIdentity(scores, op_version=version, output_names=operator.outputs[1:2]).add_to(scope, container)


ERF_TERMS = 160  # enough for |x| <= 6, beyond which erf is 1 in float64; 3.6e-14 from scipy's erf, measured


def _erf(values, dtype, version: int):
    """erf in the graph's precision. onnxruntime's Erf is float32 only, and the GP classifier's probability
    multiplies it by coefficients in the thousands; in float64 it is the series
    erf(x) = 2/sqrt(pi) exp(-x^2) sum_k 2^k x^(2k+1) / (1 3 5 ... (2k+1)), of positive terms (no cancellation),
    summed as exponentials of their logarithms in one step."""
    if dtype is np.float32:
        return OnnxErf(values, op_version=version)
    k = np.arange(ERF_TERMS, dtype=np.float64)
    log_scale = k * np.log(2.0) - np.cumsum(np.log(2.0 * k + 1.0)) + np.log(2.0 / np.sqrt(np.pi))
    size = OnnxMax(OnnxMin(OnnxAbs(values, op_version=version), np.array([6.0]), op_version=version),
                   np.array([1e-300]), op_version=version)  # fmt: skip
    axis = np.array([-1], dtype=np.int64)
    log_size = OnnxUnsqueeze(OnnxLog(size, op_version=version), axis, op_version=version)
    squared = OnnxUnsqueeze(OnnxMul(size, size, op_version=version), axis, op_version=version)
    log_terms = OnnxSub(OnnxAdd(OnnxMul(log_size, 2.0 * k + 1.0, op_version=version), log_scale, op_version=version),
                        squared, op_version=version)  # fmt: skip
    series = OnnxReduceSum(OnnxExp(log_terms, op_version=version), axis, keepdims=0, op_version=version)
    return OnnxMul(OnnxSign(values, op_version=version), series, op_version=version)


def _laplace_probability(binary, kernel_of_rows, numbers, version: int):
    """[N, 1]: P(class 1) of one binary Laplace GP classifier (scikit-learn's predict_proba), and its latent mean.

    The latent variance's triangular solve is a product with matrices known at export (W_sr L^-T): onnxruntime
    has no solve. The probability is scikit-learn's own erf expansion of the logistic's Gaussian integral."""
    dtype = _dtype_of(numbers)
    latent_mean = OnnxMatMul(kernel_of_rows, (binary.y_train_ - binary.pi_).astype(dtype)[:, None], op_version=version)
    projection = binary.W_sr_[:, None] * np.linalg.inv(binary.L_).T  # B = I + W K W: well conditioned
    explained = OnnxReduceSumSquare(OnnxMatMul(kernel_of_rows, projection.astype(dtype), op_version=version),
                                    axes=[1], keepdims=1, op_version=version)  # fmt: skip
    prior = OnnxReshape(convert_kernel_diag(binary.kernel_, numbers, dtype=dtype, op_version=version),
                        np.array([-1, 1], dtype=np.int64), op_version=version)  # fmt: skip
    variance = OnnxSub(prior, explained, op_version=version)
    alpha = OnnxReciprocal(OnnxMul(variance, np.array([2.0], dtype), op_version=version), op_version=version)
    lambdas = LAMBDAS.T.astype(dtype)  # [1, 5]
    gamma = OnnxMul(latent_mean, lambdas, op_version=version)
    spread = OnnxSqrt(OnnxDiv(alpha, OnnxAdd(alpha, lambdas**2, op_version=version), op_version=version),
                      op_version=version)  # fmt: skip
    integrals = OnnxDiv(
        OnnxMul(OnnxSqrt(OnnxDiv(np.array([np.pi], dtype), alpha, op_version=version), op_version=version),
                _erf(OnnxMul(gamma, spread, op_version=version), dtype, version), op_version=version),
        OnnxMul(np.array([2.0], dtype), OnnxSqrt(OnnxMul(variance, np.array([2.0 * np.pi], dtype),
                                                         op_version=version), op_version=version), op_version=version),
        op_version=version,
    )  # fmt: skip
    probability = OnnxAdd(OnnxMatMul(integrals, COEFS.astype(dtype), op_version=version),
                          np.array([0.5 * COEFS.sum()], dtype), op_version=version)  # fmt: skip
    return probability, latent_mean


def convert_gaussian_process_classifier(scope, operator, container) -> None:
    """GaussianProcessClassifier (Laplace), two classes or one-vs-rest: each binary model's P(class), the rows
    normalised to sum to 1 with several classes, and the label scikit-learn predicts (the latent mean's sign
    for two classes, else the class of the largest unnormalised probability). skl2onnx's own converter takes
    two classes only, through a com.microsoft Solve operator onnxruntime refuses to load (measured)."""
    model, numbers, version = operator.raw_operator, operator.inputs[0], container.target_opset
    dtype = _dtype_of(numbers)
    binaries = getattr(model.base_estimator_, "estimators_", [model.base_estimator_])
    found = []
    for binary in binaries:
        kernel_of_rows = convert_kernel(binary.kernel_, numbers, x_train=binary.X_train_.astype(dtype), dtype=dtype,
                                        op_version=version)  # fmt: skip
        found.append(_laplace_probability(binary, kernel_of_rows, numbers, version))
    if len(binaries) == 1:
        ((probability, latent_mean),) = found
        complement = OnnxSub(np.array([1.0], dtype), probability, op_version=version)
        scores = OnnxConcat(complement, probability, axis=1, op_version=version)
        positive = OnnxGreater(latent_mean, np.array([0.0], dtype), op_version=version)
        index = OnnxReshape(OnnxCast(positive, to=TensorProto.INT64, op_version=version),
                            np.array([-1], dtype=np.int64), op_version=version)  # fmt: skip
    else:
        unnormalised = OnnxConcat(*(probability for probability, _ in found), axis=1, op_version=version)
        total = OnnxReduceSum(unnormalised, np.array([1], dtype=np.int64), keepdims=1, op_version=version)
        scores = OnnxDiv(unnormalised, total, op_version=version)
        index = OnnxArgMax(unnormalised, axis=1, keepdims=0, op_version=version)
    _add_labels(model, index, operator, scope, container)
    OnnxIdentity(scores, op_version=version, output_names=operator.outputs[1:2]).add_to(scope, container)


@cache
def register() -> None:
    """Once per process: the converters above, in place of skl2onnx's for the same classes."""
    update_registered_converter(
        SimpleImputer, "SklearnSimpleImputer", calculate_sklearn_imputer_output_shapes, convert_simple_imputer
    )
    update_registered_converter(
        HistGradientBoostingClassifier, "SklearnHistGradientBoostingClassifier",
        calculate_linear_classifier_output_shapes, histogram_boosting(convert_sklearn_random_forest_classifier),
        options={"zipmap": [True, False, "columns"], "raw_scores": [True, False], "nocl": [True, False]},
    )  # fmt: skip
    update_registered_converter(
        HistGradientBoostingRegressor, "SklearnHistGradientBoostingRegressor",
        calculate_linear_regressor_output_shapes, histogram_boosting(convert_sklearn_random_forest_regressor_converter),
    )  # fmt: skip
    update_registered_converter(
        DummyClassifier, "MlprojectDummyClassifier", calculate_linear_classifier_output_shapes,
        convert_dummy_classifier, options={"zipmap": [True, False, "columns"], "nocl": [True, False]},
    )  # fmt: skip
    update_registered_converter(
        DummyRegressor, "MlprojectDummyRegressor", calculate_linear_regressor_output_shapes, convert_dummy_regressor
    )
    update_registered_converter(
        TransformedTargetRegressor, "MlprojectTransformedTargetRegressor", calculate_linear_regressor_output_shapes,
        convert_transformed_target_regressor,
    )  # fmt: skip
    for cls in (SVC, NuSVC):
        update_registered_converter(
            cls, f"Mlproject{cls.__name__}", calculate_linear_classifier_output_shapes, convert_svm,
            options={"zipmap": [True, False, "columns"], "nocl": [True, False], "raw_scores": [True, False]},
        )  # fmt: skip
    update_registered_converter(
        NearestCentroid, "MlprojectNearestCentroid", calculate_linear_classifier_output_shapes,
        convert_nearest_centroid, options={"zipmap": [True, False, "columns"], "nocl": [True, False]},
    )  # fmt: skip
    for cls in (CCA, PLSCanonical):  # predict is PLSRegression's: the centred rows times coef_, plus intercept_
        update_registered_converter(
            cls, f"Mlproject{cls.__name__}", calculate_pls_regression_output_shapes, convert_pls_regression
        )
    update_registered_converter(
        GaussianProcessClassifier, "MlprojectGaussianProcessClassifier", calculate_linear_classifier_output_shapes,
        convert_gaussian_process_classifier, options={"zipmap": [True, False, "columns"], "nocl": [True, False]},
    )  # fmt: skip
    update_registered_converter(
        KernelRidge, "MlprojectKernelRidge", calculate_linear_regressor_output_shapes, convert_kernel_ridge
    )
    for cls in (SVR, NuSVR):
        update_registered_converter(
            cls, f"Mlproject{cls.__name__}", calculate_linear_regressor_output_shapes, convert_svm
        )
    for cls in LINEAR_SCORES:
        update_registered_converter(
            cls, f"Mlproject{cls.__name__}", calculate_linear_classifier_output_shapes, convert_linear_scores,
            options={"zipmap": [True, False, "columns"], "nocl": [True, False]},
        )  # fmt: skip


def register_all() -> None:
    """The template's converters, then yours: features.ONNX_CONVERTERS maps a class to its shape calculator and
    converter, and optionally the options its converter takes (a classifier's `zipmap`, say)."""
    register()
    for cls, entry in features.ONNX_CONVERTERS.items():
        shape_calculator, converter, *options = entry
        update_registered_converter(
            cls, f"mlproject_{cls.__name__}", shape_calculator, converter, options=options[0] if options else None
        )


def has_converter(cls: type) -> bool:
    """skl2onnx can convert `cls`: its own converters, the template's, or yours (features.ONNX_CONVERTERS)."""
    from skl2onnx._supported_operators import sklearn_operator_name_map

    register_all()
    return cls in sklearn_operator_name_map
