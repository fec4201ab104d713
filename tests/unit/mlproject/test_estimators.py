import pytest
from sklearn.feature_selection import SelectKBest, f_regression
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.preprocessing import MinMaxScaler

from mlproject import config
from mlproject.estimators import build_steps


def test_a_pipeline_of_steps_is_built_in_order_with_functions_named_by_string():
    params = config.parse_params({
        "task": "regression",
        "registry": {"gate": {"metric": "r2", "min": 0.3}},
        "model": {"steps": {
            "scale": {"estimator": "MinMaxScaler"},
            "select": {"estimator": "SelectKBest", "params": {"score_func": "f_regression", "k": 5}},
            "regress": {"estimator": "sklearn.linear_model.LinearRegression"},
        }},
    })  # fmt: skip
    steps = build_steps(params)
    assert [name for name, _ in steps] == ["scale", "select", "regress"]
    assert [type(step) for _, step in steps] == [MinMaxScaler, SelectKBest, LinearRegression]
    assert steps[1][1].score_func is f_regression and steps[1][1].k == 5


def test_every_random_state_is_the_seed():
    params = config.parse_params({
        "seed": 123,
        "model": {"steps": {"classify": {"estimator": "RandomForestClassifier",
                                         "params": {"n_estimators": 7, "max_depth": 3}}}},
    })  # fmt: skip
    ((_, forest),) = build_steps(params)
    assert (forest.random_state, forest.n_estimators, forest.max_depth) == (123, 7, 3)
    ((_, logistic),) = build_steps(
        config.parse_params({"seed": 9, "model": {"steps": {"c": {"estimator": "LogisticRegression"}}}})
    )
    assert isinstance(logistic, LogisticRegression) and logistic.random_state == 9


def test_a_string_option_is_not_mistaken_for_a_function():
    params = config.parse_params({"model": {"steps": {"c": {"estimator": "KNeighborsClassifier",
                                                           "params": {"weights": "distance"}}}}})  # fmt: skip
    assert build_steps(params)[0][1].weights == "distance"


def test_an_unknown_function_name_is_refused_by_key():
    raw = {
        "task": "regression",
        "registry": {"gate": {"metric": "r2", "min": 0.3}},
        "model": {"steps": {"select": {"estimator": "SelectKBest", "params": {"score_func": "f_regresion"}},
                            "regress": {"estimator": "LinearRegression"}}},
    }  # fmt: skip
    with pytest.raises(config.ParamsError, match=r"model.steps.select.params.score_func: .*did you mean f_regression"):
        config.parse_params(raw)
