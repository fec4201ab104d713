"""The model's steps from params.yaml: any scikit-learn estimator, or a class of features.py, by name.

`model.steps` names each step's class and hyperparameters. A bare name is looked up in features.py,
then among scikit-learn's public estimators; a dotted name (`sklearn.linear_model.Ridge`,
`mypackage.models.Model`) is imported. Where scikit-learn expects a callable, a string names a
function the same way (`score_func: f_regression`). scikit-learn's own parameter validation checks
every value, so a wrong type or range is said in its words, under the key that holds it.
Every `random_state` is the one `seed`.
"""

from __future__ import annotations

import difflib
import importlib
import re
from functools import cache
from typing import TYPE_CHECKING, Any, TypeGuard

from sklearn.base import BaseEstimator, is_classifier, is_regressor
from sklearn.utils._param_validation import InvalidParameterError, StrOptions

from mlproject import features
from mlproject.stage import StageError

if TYPE_CHECKING:
    from mlproject.config import Params, StepParams

SEEDED = "random_state"


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


def build_step(name: str, spec: StepParams, seed: int) -> BaseEstimator:
    key = f"model.steps.{name}"
    cls = resolve(spec.estimator, f"{key}.estimator")
    if not _is_estimator_class(cls):
        raise EstimatorError(f"{key}.estimator: {spec.estimator!r} is not a scikit-learn estimator class")
    accepted = cls._get_param_names()
    hyperparameters = {}
    for parameter, value in spec.params.items():
        where = f"{key}.params.{parameter}"
        if parameter == SEEDED:
            raise EstimatorError(f"{where}: set by seed for every step; remove it here")
        if parameter not in accepted:
            close = difflib.get_close_matches(parameter, accepted, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise EstimatorError(f"{where}: not a hyperparameter of {cls.__name__}{hint}")
        hyperparameters[parameter] = resolve(value, where) if _wants_function(cls, parameter, value) else value
    if SEEDED in accepted:
        hyperparameters[SEEDED] = seed
    try:
        estimator = cls(**hyperparameters)
        if hasattr(estimator, "_validate_params"):
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
    steps = [(name, build_step(name, spec, params.seed)) for name, spec in params.model.steps.items()]
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
