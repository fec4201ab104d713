import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.feature_selection import SelectKBest, f_regression
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.preprocessing import MinMaxScaler
from sklearn.svm import LinearSVC

from mlproject import config
from mlproject.estimators import EstimatorError, build_estimator, build_steps
from tests.helpers import penguins_example, penguins_regression


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


def test_a_nested_step_is_built_validated_and_seeded_like_any_other():
    params = config.parse_params({
        "seed": 5,
        "model": {"steps": {"classify": {"estimator": "CalibratedClassifierCV", "params": {
            "estimator": {"estimator": "LinearSVC", "params": {"C": 0.5}}, "cv": 3}}}},
    })  # fmt: skip
    ((_, calibrated),) = build_steps(params)
    assert isinstance(calibrated.estimator, LinearSVC) and calibrated.estimator.C == 0.5
    assert calibrated.estimator.random_state == 5


def test_named_estimators_are_a_mapping_of_nested_steps():
    params = config.parse_params({
        "model": {"steps": {"classify": {"estimator": "StackingClassifier", "params": {"estimators": {
            "forest": {"estimator": "RandomForestClassifier", "params": {"n_estimators": 10}},
            "linear": {"estimator": "LogisticRegression"}}}}}},
    })  # fmt: skip
    ((_, stack),) = build_steps(params)
    assert [name for name, _ in stack.estimators] == ["forest", "linear"]
    assert stack.estimators[0][1].n_estimators == 10 and stack.estimators[0][1].random_state == 42


def test_a_bad_nested_hyperparameter_is_named_by_its_whole_key():
    raw = {"model": {"steps": {"classify": {"estimator": "BaggingClassifier", "params": {
        "estimator": {"estimator": "DecisionTreeClassifier", "params": {"max_depth": -1}}}}}}}  # fmt: skip
    with pytest.raises(
        config.ParamsError, match=r"model.steps.classify.params.estimator.params.max_depth: The 'max_depth'"
    ):
        config.parse_params(raw)


PENGUINS = penguins_example().SCHEMA


@pytest.mark.parametrize(
    ("step", "features", "said"),
    [
        ({"estimator": "CategoricalNB"}, {}, "CategoricalNB cannot be served: it reads every feature as an integer"),
        ({"estimator": "MultinomialNB"}, {"scale_numbers": True}, "needs features that are never negative"),
        ({"estimator": "KNeighborsClassifier"}, {}, "needs standardised numbers"),
        ({"estimator": "QuadraticDiscriminantAnalysis"}, {}, "set reg_param"),
        ({"estimator": "DummyClassifier", "params": {"strategy": "uniform"}}, {}, "answers at random"),
        ({"estimator": "LabelSpreading"}, {}, "semi-supervised"),
        ({"estimator": f"{__name__}.PassesOn"}, {}, "has no ONNX converter, so it cannot be served"),
    ],
)
def test_an_estimator_that_could_not_be_served_is_refused_before_any_work(step, features, said):
    with pytest.raises(config.ParamsError) as caught:
        config.parse_params({"features": features, "model": {"steps": {"classify": step}}}, schema=PENGUINS)
    message = str(caught.value).splitlines()[-1]
    assert message.startswith("  model.steps.classify.estimator: ") and said in message
    assert "use " in message or "set " in message


def test_the_registry_metrics_must_be_ones_the_model_gives():
    linear_svc = {"model": {"steps": {"classify": {"estimator": "LinearSVC"}}}}
    with pytest.raises(config.ParamsError, match=(
        r"registry.comparison.metric: log_loss cannot be computed for LinearSVC, which gives labels and "
        r"decision_function scores but no probabilities, on a target of 3 classes; it can use accuracy, macro_f1$"
    )):  # fmt: skip
        config.parse_params({**linear_svc, "registry": {"comparison": {"metric": "log_loss"}}}, schema=PENGUINS)
    chosen = config.parse_params(linear_svc, schema=PENGUINS)
    assert chosen.comparison_metric == "macro_f1"  # the best it gives on three classes
    with pytest.raises(config.ParamsError, match="average_precision cannot be computed for RandomForestClassifier"):
        config.parse_params({"registry": {"gate": {"metric": "average_precision", "min": 0.5}}}, schema=PENGUINS)


def test_the_same_model_with_two_classes_offers_roc_auc_and_average_precision_from_its_scores():
    from dataclasses import replace

    binary = replace(PENGUINS, target=replace(PENGUINS.target, categories=("Adelie", "Chinstrap")))
    raw = {"model": {"steps": {"classify": {"estimator": "LinearSVC"}}},
           "registry": {"gate": {"metric": "average_precision", "min": 0.5}}}  # fmt: skip
    params = config.parse_params(raw, schema=binary)
    assert params.comparison_metric == "roc_auc"


class PassesOn(ClassifierMixin, BaseEstimator):
    """A library's estimator as LightGBM's and XGBoost's are: what __init__ does not name goes to the library."""

    def __init__(self, n_estimators=10, random_state=None, **library_params):
        self.n_estimators, self.random_state = n_estimators, random_state
        self.library_params = library_params

    def get_params(self, deep=True):
        return {**super().get_params(deep), **self.library_params}


def test_an_estimator_that_passes_parameters_on_gets_unknown_ones_but_near_misses_are_typos():
    built = build_estimator("model.steps.c", f"{__name__}.PassesOn", {"n_estimators": 3, "verbose": -1}, seed=7)
    assert (built.n_estimators, built.library_params, built.random_state) == (3, {"verbose": -1}, 7)
    with pytest.raises(EstimatorError, match=r"model.steps.c.params.random_state: set by seed"):
        build_estimator("model.steps.c", f"{__name__}.PassesOn", {"random_state": 1}, seed=7)
    with pytest.raises(EstimatorError, match=r"params.n_estimator: not a .*PassesOn \(did you mean n_estimators\?\)"):
        build_estimator("model.steps.c", f"{__name__}.PassesOn", {"n_estimator": 3}, seed=7)  # a typo, not passed on


def test_an_estimator_that_names_all_its_parameters_refuses_others_with_a_suggestion():
    said = r"model.steps.c.params.n_estimator: not a .* \(did you mean n_estimators\?\)"
    with pytest.raises(EstimatorError, match=said):
        build_estimator("model.steps.c", "RandomForestClassifier", {"n_estimator": 3}, seed=7)


@pytest.mark.parametrize("estimator", ["CCA", "PLSCanonical"])
def test_a_cross_decomposition_with_more_components_than_targets_is_refused_saying_how_many(estimator):
    raw = {"task": "regression", "registry": {"gate": {"metric": "r2", "min": 0.1}},
           "model": {"steps": {"regress": {"estimator": estimator}}}}  # fmt: skip
    with pytest.raises(config.ParamsError, match=r"with n_components 2 cannot fit one target.*set n_components: 1"):
        config.parse_params(raw, schema=penguins_regression())
    raw["model"]["steps"]["regress"]["params"] = {"n_components": 1}
    assert config.parse_params(raw, schema=penguins_regression()).model.steps["regress"].estimator == estimator
