"""The model's steps from params.yaml: any scikit-learn estimator, or a class of features.py, by name.

`model.steps` names each step's class and hyperparameters. A bare name is looked up in features.py,
then among scikit-learn's public estimators; a dotted name (`sklearn.linear_model.Ridge`,
`mypackage.models.Model`) is imported. Where scikit-learn expects a callable, a string names a
function the same way (`score_func: f_regression`); where it expects an estimator, a nested step
(`estimator: {estimator: LinearSVC, params: {C: 0.5}}`), and where it expects named estimators (a
stack's, a vote's), a mapping of names to nested steps. scikit-learn's own parameter validation checks
every value, so a wrong type or range is said in its words, under the key that holds it.
Every `random_state` is the one `seed`.

A model that could be trained but never served is refused here, before any work, in one line that says
why and what to use instead (`servable_problem`): no ONNX converter, a kind of model the template's data
cannot feed, or a combination with the data or the features that is known to fail.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import re
from functools import cache
from typing import TYPE_CHECKING, Any, Literal, TypeGuard

from sklearn.base import BaseEstimator, is_classifier, is_regressor
from sklearn.ensemble import StackingClassifier
from sklearn.pipeline import Pipeline
from sklearn.utils._param_validation import InvalidParameterError, StrOptions

from mlproject import features
from mlproject.schema import DatasetSchema, NumericColumn
from mlproject.stage import StageError

if TYPE_CHECKING:
    from mlproject.config import Params

ClassScores = Literal["probabilities", "decision_function"]

SEEDED = "random_state"
LIBRARY_NAME_CUTOFF = 0.85  # how close to a named hyperparameter a passed-on name is taken for its typo


class EstimatorError(StageError, ValueError):
    """A step of params.yaml cannot be built; the message starts with its dotted key."""


@cache
def _sklearn_names() -> dict[str, Any]:
    from sklearn.utils.discovery import all_estimators, all_functions

    return {**dict(all_functions()), **dict(all_estimators())}


def resolve(name: str, key: str) -> Any:
    """The class or function `name` stands for: features.py first, then scikit-learn, or a dotted import."""
    if "." in name:
        module, _, attribute = name.rpartition(".")
        try:
            return getattr(importlib.import_module(module), attribute)
        except (ImportError, AttributeError):
            raise EstimatorError(f"{key}: cannot import {name!r}") from None
    found = getattr(features, name, None) or _sklearn_names().get(name)
    if found is None:
        close = difflib.get_close_matches(name, [*_sklearn_names(), *vars(features)], n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise EstimatorError(f"{key}: {name!r} is neither a class of features.py nor of scikit-learn{hint}")
    return found


def _wants_function(cls: type, parameter: str, value: object) -> bool:
    """A string where scikit-learn's constraints take a callable and no string option matches it."""
    constraints = getattr(cls, "_parameter_constraints", {}).get(parameter, [])
    if not isinstance(value, str) or callable not in constraints:
        return False
    return not any(isinstance(c, StrOptions) and value in c.options for c in constraints)


def _is_estimator_class(value: object) -> TypeGuard[type[BaseEstimator]]:
    return isinstance(value, type) and issubclass(value, BaseEstimator)


def _nested_spec(value: object) -> dict | None:
    """`{estimator: Name, params: {...}}` as written in params.yaml, or None for any other value."""
    if isinstance(value, dict) and isinstance(value.get("estimator"), str) and set(value) <= {"estimator", "params"}:
        return value
    return None


def _hyperparameter(cls: type, parameter: str, value: object, where: str, seed: int) -> object:
    """A value of params.yaml as scikit-learn takes it: a function by name, an estimator from a nested step,
    or named estimators (a mapping of names to nested steps, for a stack or a vote) as a list of pairs."""
    if _wants_function(cls, parameter, value):
        return resolve(value, where)  # type: ignore[arg-type]
    if (nested := _nested_spec(value)) is not None:
        return build_estimator(where, nested["estimator"], nested.get("params") or {}, seed)
    if isinstance(value, dict) and value and all(_nested_spec(item) is not None for item in value.values()):
        return [
            (str(name), build_estimator(f"{where}.{name}", item["estimator"], item.get("params") or {}, seed))
            for name, item in value.items()
        ]
    return value


def hyperparameter_names(cls: type[BaseEstimator]) -> tuple[list[str], bool]:
    """The hyperparameters `cls` names, and whether it passes others on to its library (`**kwargs`, as
    LightGBM's and XGBoost's estimators do: their get_params() names what their signature does not)."""
    names = cls._get_param_names()
    passes_on = any(p.kind is p.VAR_KEYWORD for p in inspect.signature(cls.__init__).parameters.values())
    return (sorted({*names, *cls().get_params(deep=False)}) if passes_on else names), passes_on


def build_estimator(key: str, spec_name: str, params: dict[str, Any], seed: int) -> BaseEstimator:
    """One estimator of params.yaml (a step, or one nested in a step), checked by scikit-learn."""
    cls = resolve(spec_name, f"{key}.estimator")
    if not _is_estimator_class(cls):
        raise EstimatorError(f"{key}.estimator: {spec_name!r} is not a scikit-learn estimator class")
    accepted, passes_on = hyperparameter_names(cls)
    hyperparameters = {}
    for parameter, value in params.items():
        where = f"{key}.params.{parameter}"
        if parameter == SEEDED:
            raise EstimatorError(f"{where}: set by seed for every step; remove it here")
        if parameter not in accepted:
            # A library that takes **kwargs may ignore a name it does not know (LightGBM does, silently with
            # verbose: -1): a near miss of a named hyperparameter is taken for a typo, the rest passed on.
            close = difflib.get_close_matches(
                parameter, accepted, n=1, cutoff=LIBRARY_NAME_CUTOFF if passes_on else 0.6
            )
            if close or not passes_on:
                hint = f" (did you mean {close[0]}?)" if close else ""
                raise EstimatorError(f"{where}: not a hyperparameter of {cls.__name__}{hint}")
        hyperparameters[parameter] = _hyperparameter(cls, parameter, value, where, seed)
    if SEEDED in accepted:
        hyperparameters[SEEDED] = seed
    try:
        estimator = cls(**hyperparameters)
        if hasattr(estimator, "_parameter_constraints"):  # scikit-learn's own; your classes may declare none
            estimator._validate_params()
    except InvalidParameterError as error:
        named = re.match(r"The '(\w+)' parameter", str(error))
        where = f"{key}.params.{named.group(1)}" if named else key
        raise EstimatorError(f"{where}: {error}") from None
    except (TypeError, ValueError) as error:
        raise EstimatorError(f"{key}: {cls.__name__} refuses its parameters: {error}") from None
    return estimator


def build_steps(params: Params) -> list[tuple[str, BaseEstimator]]:
    """The model's steps, checked: transformers first, then one estimator that fits the task."""
    steps = [
        (name, build_estimator(f"model.steps.{name}", spec.estimator, spec.params, params.seed))
        for name, spec in params.model.steps.items()
    ]
    *transformers, (last, predictor) = steps
    for name, step in transformers:
        if not hasattr(step, "transform"):
            raise EstimatorError(
                f"model.steps.{name}.estimator: {type(step).__name__} is not a transformer; only the last step predicts"
            )
    fits = is_classifier(predictor) if params.task == "classification" else is_regressor(predictor)
    if not fits:
        kind = "classifier" if params.task == "classification" else "regressor"
        raise EstimatorError(
            f"model.steps.{last}.estimator: {type(predictor).__name__} is not a {kind}, and task is {params.task}"
        )
    return steps


def build_pipeline(params: Params, schema: DatasetSchema) -> Pipeline:
    """features.py's preprocessing of the data's columns, then the model's steps: what `train` fits."""
    return Pipeline([("preprocess", features.build_preprocessor(schema, params.features)), *build_steps(params)])


def check_search(params: Params) -> None:
    """Every searched hyperparameter is one its step takes, at both ends of its range and for every choice:
    the search then never proposes what scikit-learn refuses (a value inside a range is, where these are)."""
    for name, spec in params.model.steps.items():
        for parameter, space in spec.search.items():
            where = f"model.steps.{name}.search.{parameter}"
            if parameter == SEEDED:
                raise EstimatorError(f"{where}: set by seed for every step; it is not searched")
            for value in space.edges:
                try:
                    build_estimator(
                        f"model.steps.{name}", spec.estimator, {**spec.params, parameter: value}, params.seed
                    )
                except EstimatorError as error:
                    said = str(error).removeprefix(f"model.steps.{name}.params.{parameter}: ")
                    refused = "" if said.startswith("not a hyperparameter") else f"{value!r} is refused: "
                    raise EstimatorError(f"{where}: {refused}{said}") from None


def check_servable(steps: list[tuple[str, BaseEstimator]], params: Params, schema: DatasetSchema | None) -> None:
    """Every step can be served (given the data's schema), and the registry's metrics are ones the model gives."""
    if schema is not None:
        for name, step in steps:
            if problem := servable_problem(step, params, schema):
                raise EstimatorError(f"model.steps.{name}.estimator: {problem}")
    check_metrics(params, steps[-1][1], len(schema.classes) if schema is not None else None)


def nested_estimators(estimator: BaseEstimator) -> list[BaseEstimator]:
    """The estimator and every estimator inside it: hyperparameters (a bagged tree, a stack's members) and,
    once fitted, default parts (AdaBoost's stump)."""
    found, pending = [], [estimator]
    while pending:
        current = pending.pop()
        found.append(current)
        for value in current.get_params(deep=False).values():
            if isinstance(value, BaseEstimator):
                pending.append(value)
            elif isinstance(value, list):  # named estimators: [(name, estimator), ...]
                pending += [
                    item[-1] for item in value if isinstance(item, tuple) and isinstance(item[-1], BaseEstimator)
                ]
        if isinstance(fitted := getattr(current, "estimator_", None), BaseEstimator):
            pending.append(fitted)
    return found


def class_scores(estimator: BaseEstimator) -> ClassScores | None:
    """What a classifier gives beside its labels: probabilities, else decision_function's scores, else nothing.

    Asked before fitting too, where scikit-learn answers from the hyperparameters; a stack's default final
    estimator (a logistic regression, made at fit) is the one it cannot see.
    """
    final = estimator.steps[-1][1] if isinstance(estimator, Pipeline) else estimator
    unfitted_stack = isinstance(final, StackingClassifier) and not hasattr(final, "final_estimator_")
    if hasattr(estimator, "predict_proba") or (unfitted_stack and final.final_estimator is None):
        return "probabilities"
    return "decision_function" if hasattr(estimator, "decision_function") else None


# Estimators that can be trained but not served, each with why and what to use instead (measured: README,
# Supported estimators).
REFUSED = {
    "LabelPropagation": "semi-supervised: it learns from unlabelled rows, which a labelled table has none of, and "
    "skl2onnx cannot convert it; use KNeighborsClassifier",
    "LabelSpreading": "semi-supervised: it learns from unlabelled rows, which a labelled table has none of, and "
    "skl2onnx cannot convert it; use KNeighborsClassifier",
    "RadiusNeighborsClassifier": "a row with no training row within `radius` cannot be scored (scikit-learn "
    "refuses it, the ONNX graph fails on it); use KNeighborsClassifier",
    "RadiusNeighborsRegressor": "a row with no training row within `radius` cannot be scored (scikit-learn answers "
    "NaN, the ONNX graph fails on it); use KNeighborsRegressor",
    "CategoricalNB": "it reads every feature as an integer category code, but the preprocessing gives measurements "
    "and one-hot columns; use GaussianNB or BernoulliNB",
}


def servable_problem(estimator: BaseEstimator, params: Params, schema: DatasetSchema) -> str | None:
    """Why this step (or an estimator inside it) could be trained on this data but never served, or None."""
    from sklearn.utils import get_tags

    from mlproject import converters

    for part in nested_estimators(estimator):
        name, tags = type(part).__name__, get_tags(part)
        if type(part).__module__.startswith("sklearn.") and name in REFUSED:
            return f"{name} cannot be served: {REFUSED[name]}"
        if not tags.target_tags.single_output:
            return f"{name} fits several targets at once, and the data has one: use its single-target form"
        if not tags.input_tags.two_d_array:
            return f"{name} fits one feature only, and the preprocessing gives several: use another regressor"
        if (problem := _data_problem(part, params, schema)) is not None:
            return f"{name} {problem}"
        if not converters.has_converter(type(part)):
            return (
                f"{type(part).__module__}.{name} has no ONNX converter, so it cannot be served: use a supported "
                "estimator (README: Supported estimators), or give it a shape calculator and a converter in "
                "ONNX_CONVERTERS of src/mlproject/features.py"
            )
    return None


def _data_problem(part: BaseEstimator, params: Params, schema: DatasetSchema) -> str | None:
    """Known failures of an estimator with this data or these features, said before they happen."""
    from sklearn.utils import get_tags

    from mlproject.converters import KERNEL_RIDGE_KERNELS, target_inverse_problem

    tags, settings, name, target = get_tags(part), part.get_params(deep=False), type(part).__name__, schema.target
    negative = [c.name for c in schema.features if isinstance(c, NumericColumn) and c.minimum < 0]
    if tags.input_tags.positive_only and (params.features.scale_numbers or negative):
        why = "features.scale_numbers: true makes them so" if params.features.scale_numbers else (
            f"the schema allows negative {', '.join(negative)}"
        )  # fmt: skip
        return f"needs features that are never negative, and {why}: set scale_numbers false, or use GaussianNB"
    if tags.target_tags.positive_only and isinstance(target, NumericColumn) and target.minimum <= 0:
        return (
            f"needs a positive target, and the schema allows '{target.name}' down to {target.minimum}: "
            "use TweedieRegressor"
        )
    if name in ("CCA", "PLSCanonical") and settings["n_components"] > 1:
        return (
            f"with n_components {settings['n_components']} cannot fit one target (the components are bounded by "
            "the number of targets): set n_components: 1, or use PLSRegression"
        )
    if name == "QuadraticDiscriminantAnalysis" and not settings["reg_param"] and schema.categorical:
        return (
            "with reg_param 0 cannot fit one-hot encoded categories (each class's covariance is singular): "
            "set reg_param, e.g. 0.1"
        )
    if name == "DummyClassifier" and settings["strategy"] in ("stratified", "uniform"):
        return (
            f"with strategy {settings['strategy']!r} answers at random, which no exported model can repeat: "
            "use 'prior' or 'most_frequent'"
        )
    if name.startswith("HistGradientBoosting") and settings["categorical_features"] not in (None, "from_dtype"):
        return (
            "with categorical_features cannot be served: skl2onnx converts its own categorical splits wrongly "
            "(measured); leave it unset, features.py one-hot encodes the categories"
        )
    if name == "KernelRidge" and settings["kernel"] not in KERNEL_RIDGE_KERNELS:
        return f"cannot be served with kernel {settings['kernel']!r}: use one of {', '.join(KERNEL_RIDGE_KERNELS)}"
    if name.startswith("KNeighbors") and not scaled(params):
        return (
            "needs standardised numbers: unscaled, the widest column alone decides which rows are nearest, and rows "
            "at equal distances (common then) are picked differently by scikit-learn and ONNX; set "
            "features.scale_numbers: true, or put a scaler step before it"
        )
    if name == "TransformedTargetRegressor" and (problem := target_inverse_problem(part)):
        return f"cannot be served: the ONNX graph must invert its target transform, and {problem}"
    return None


SCALERS = ("StandardScaler", "MinMaxScaler", "MaxAbsScaler", "RobustScaler", "QuantileTransformer", "PowerTransformer")


def scaled(params: Params) -> bool:
    """The numbers reach the model standardised: by the features, or by a scaler step of the model."""
    steps = list(params.model.steps.values())[:-1]
    return params.features.scale_numbers or any(step.estimator.rpartition(".")[2] in SCALERS for step in steps)


GIVES = {
    "probabilities": "labels and probabilities",
    "decision_function": "labels and decision_function scores but no probabilities",
    None: "labels only",
}


def check_metrics(params: Params, predictor: BaseEstimator, classes: int | None) -> None:
    """The gate's and the comparison's metrics must be ones `evaluate` can compute for this model."""
    from mlproject.config import usable_metrics

    scores = class_scores(predictor) if params.task == "classification" else None
    usable = usable_metrics(params.task, scores, classes)
    for key, metric in (("registry.gate.metric", params.registry.gate.metric),
                        ("registry.comparison.metric", params.comparison_metric)):  # fmt: skip
        if metric not in usable:
            on = f", on a target of {classes} classes" if params.task == "classification" and classes else ""
            raise EstimatorError(
                f"{key}: {metric} cannot be computed for {type(predictor).__name__}, which gives {GIVES[scores]}{on}; "
                f"it can use {', '.join(usable)}"
            )
