import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

from mlproject import config
from mlproject.dataset import SCHEMA
from mlproject.features import model_input
from mlproject.train import build_pipeline, fit, load_model, save_model


def params_for(classifier: str, seed: int = 42) -> config.Params:
    return config.parse_params({"seed": seed, "train": {"classifier": classifier}})


@pytest.mark.parametrize(
    ("name", "kind"), [("random_forest", RandomForestClassifier), ("logistic_regression", LogisticRegression)]
)
def test_the_classifier_and_its_seed_come_from_params(name, kind):
    pipeline = build_pipeline(params_for(name, seed=123).train, SCHEMA, seed=123)
    classifier = pipeline.named_steps["classify"]
    assert isinstance(classifier, kind)
    assert classifier.random_state == 123


def test_hyperparameters_reach_the_estimator():
    params = config.parse_params({"train": {"random_forest": {"n_estimators": 7, "max_depth": 3}, "n_jobs": 2}})
    forest = build_pipeline(params.train, SCHEMA, params.seed).named_steps["classify"]
    assert (forest.n_estimators, forest.max_depth, forest.n_jobs) == (7, 3, 2)


def test_model_input_orders_columns_and_marks_missing_categories_with_empty_strings(splits):
    train, _ = splits
    features = model_input(train, SCHEMA)
    assert list(features.columns) == SCHEMA.feature_names
    assert features["sex"].isin(["", "female", "male"]).all()
    assert (features["sex"] == "").sum() == train["sex"].isna().sum() > 0


@pytest.mark.parametrize("classifier", ["random_forest", "logistic_regression"])
def test_a_fitted_model_learns_and_survives_a_save_and_load(tmp_path, splits, classifier):
    train, test = splits
    model = fit(train, params_for(classifier))
    path = tmp_path / "model.skops"
    save_model(model, path)
    loaded = load_model(path)
    features = model_input(test, SCHEMA)
    np.testing.assert_array_equal(loaded.predict_proba(features), model.predict_proba(features))
    assert (loaded.predict(features) == test["species"]).mean() > 0.9


def test_the_same_fit_gives_the_same_bytes(tmp_path, splits):
    train, _ = splits
    first, second = tmp_path / "a.skops", tmp_path / "b.skops"
    save_model(fit(train, params_for("random_forest")), first)
    save_model(fit(train, params_for("random_forest")), second)
    assert first.read_bytes() == second.read_bytes()


def test_loading_refuses_types_nobody_trusted(tmp_path, splits, monkeypatch):
    train, _ = splits
    path = tmp_path / "model.skops"
    save_model(fit(train, params_for("random_forest")), path)
    monkeypatch.setattr("mlproject.train.TRUSTED_TYPES", ["numpy.dtype"])
    with pytest.raises(TypeError, match=r"sklearn.tree._tree.Tree"):
        load_model(path)


def test_only_scale_sensitive_classifiers_get_a_scaler():
    def numeric_steps(classifier: str) -> list[str]:
        pipeline = build_pipeline(params_for(classifier).train, SCHEMA, seed=0)
        numeric = dict((name, steps) for name, steps, _ in pipeline.named_steps["preprocess"].transformers)["numeric"]
        return [name for name, _ in numeric.steps]

    assert numeric_steps("logistic_regression") == ["impute", "scale"]
    assert numeric_steps("random_forest") == ["impute"]
