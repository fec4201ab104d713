import numpy as np
import pytest
from sklearn.dummy import DummyClassifier
from sklearn.pipeline import Pipeline

from mlproject import config
from mlproject.estimators import class_scores
from mlproject.validation import cross_validate, folds_of
from tests.helpers import regression_schema

SETTINGS = config.EvaluationParams(folds=4, repeats=3)


def test_every_fold_of_every_repeat_is_scored_and_classes_are_stratified(synthetic_splits, schema):
    train = synthetic_splits[0]
    folds = list(folds_of(train, schema, SETTINGS, seed=42))
    assert len(folds) == SETTINGS.folds * SETTINGS.repeats
    overall = train[schema.label].value_counts(normalize=True)
    for _, held_out in folds:
        share = train.iloc[held_out][schema.label].value_counts(normalize=True)
        assert (share.reindex(overall.index, fill_value=0) - overall).abs().max() < 0.1


def test_the_figures_are_a_mean_and_spread_per_metric_and_the_same_on_every_run(
    synthetic_model, synthetic_splits, schema
):
    first = cross_validate(synthetic_model, synthetic_splits[0], schema, SETTINGS, seed=42)
    scores = class_scores(synthetic_model) if schema.task == "classification" else None
    assert set(first) == set(config.usable_metrics(schema.task, scores, len(schema.classes)))
    assert all(set(figure) == {"mean", "std"} and figure["std"] >= 0 for figure in first.values())
    assert first == cross_validate(synthetic_model, synthetic_splits[0], schema, SETTINGS, seed=42)
    assert first != cross_validate(synthetic_model, synthetic_splits[0], schema, SETTINGS, seed=7)


def test_a_model_that_guesses_is_told_apart_from_one_that_learns(fitted, splits, penguins_schema):
    """On the penguins, a 69-row test split gives many models 1.0; cross-validated log loss separates them."""
    train = splits[0]
    learned = cross_validate(fitted, train, penguins_schema, SETTINGS, seed=42)
    guessing = Pipeline([*fitted.steps[:-1], ("classify", DummyClassifier(strategy="prior"))])
    guessed = cross_validate(guessing, train, penguins_schema, SETTINGS, seed=42)
    assert learned["log_loss"]["mean"] + 5 * learned["log_loss"]["std"] < guessed["log_loss"]["mean"]
    majority = train[penguins_schema.label].value_counts(normalize=True).max()
    assert guessed["accuracy"]["mean"] == pytest.approx(majority, abs=0.02)


def test_a_regressor_is_cross_validated_with_plain_folds(regression_model):
    figures = cross_validate(regression_model.fitted, regression_model.splits[0], regression_schema(), SETTINGS, 0)
    assert set(figures) == {"r2", "rmse", "mae"}
    assert np.isfinite([f["mean"] for f in figures.values()]).all()
