import numpy as np
import pytest
from sklearn.base import is_classifier, is_regressor

from mlproject import config
from mlproject.estimators import build_pipeline
from mlproject.inputs import model_input, target
from mlproject.model_io import load_model, save_model
from mlproject.train import fit
from tests.helpers import penguins_example

PENGUINS = penguins_example().SCHEMA


def test_the_active_projects_pipeline_is_preprocessing_then_the_steps_of_params(params, schema):
    pipeline = build_pipeline(params, schema)
    assert [name for name, _ in pipeline.steps] == ["preprocess", *params.model.steps]
    predictor = pipeline.steps[-1][1]
    assert is_classifier(predictor) if params.task == "classification" else is_regressor(predictor)


def test_the_active_projects_model_learns_and_survives_a_save_and_load(
    synthetic_model, synthetic_splits, schema, tmp_path
):
    _, test = synthetic_splits
    path = tmp_path / "model.skops"
    save_model(synthetic_model, path)
    loaded = load_model(path)
    features = model_input(test, schema)
    np.testing.assert_array_equal(loaded.predict(features), synthetic_model.predict(features))
    if schema.task == "classification":
        assert (loaded.predict(features) == target(test, schema)).mean() > 1 / len(schema.classes)


def test_a_fit_refuses_a_task_its_target_does_not_have(synthetic_splits, schema):
    other = "regression" if schema.task == "classification" else "classification"
    gate = {"metric": "r2", "min": 0.1} if other == "regression" else {"metric": "accuracy", "min": 0.1}
    estimator = "LinearRegression" if other == "regression" else "LogisticRegression"
    params = config.parse_params({"task": other, "registry": {"gate": gate},
                                  "model": {"steps": {"last": {"estimator": estimator}}}})  # fmt: skip
    with pytest.raises(Exception, match=f"params.yaml says task: {other}"):
        fit(synthetic_splits[0], params, schema)


@pytest.mark.penguins
@pytest.mark.parametrize("estimator", ["RandomForestClassifier", "LogisticRegression"])
def test_penguins_models_learn_and_keep_string_classes(tmp_path, splits, estimator):
    train, test = splits
    params = config.parse_params({"features": {"scale_numbers": estimator == "LogisticRegression"},
                                  "model": {"steps": {"classify": {"estimator": estimator}}}})  # fmt: skip
    model = fit(train, params, PENGUINS)
    path = tmp_path / "model.skops"
    save_model(model, path)
    features = model_input(test, PENGUINS)
    np.testing.assert_array_equal(load_model(path).predict_proba(features), model.predict_proba(features))
    assert list(model.classes_) == ["Adelie", "Chinstrap", "Gentoo"]
    assert (model.predict(features) == test["species"]).mean() > 0.9


def test_model_input_orders_columns_and_marks_missing_categories_with_empty_strings(splits):
    train, _ = splits
    features = model_input(train, PENGUINS)
    assert list(features.columns) == PENGUINS.feature_names
    assert features["sex"].isin(["", "female", "male"]).all()
    assert (features["sex"] == "").sum() == train["sex"].isna().sum() > 0


@pytest.mark.penguins
def test_penguins_scale_numbers_adds_a_scaler_to_the_numeric_branch():
    def numeric_steps(scale: bool) -> list[str]:
        pipeline = build_pipeline(config.parse_params({"features": {"scale_numbers": scale}}), PENGUINS)
        numeric = {name: steps for name, steps, _ in pipeline.named_steps["preprocess"].transformers}["numeric"]
        return [name for name, _ in numeric.steps]

    assert numeric_steps(True) == ["impute", "scale"]
    assert numeric_steps(False) == ["impute"]
