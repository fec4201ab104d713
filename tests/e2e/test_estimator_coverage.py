"""Every scikit-learn classifier and regressor through the template's own path on the active project's data
(scripts/estimator_coverage.py): each is served or refused at params validation, never anything else; and
the README's table is the one this run writes."""

from __future__ import annotations

import pytest

from scripts.estimator_coverage import counts, measure, readme_section, readme_table
from tests.helpers import DEFAULT_EXAMPLE, active_example

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def measured():
    return measure()


def test_every_estimator_is_served_or_refused_before_training_in_one_line(measured):
    outcomes, _ = measured
    failed = [
        f"{o.task} {o.estimator} scaled={o.scaled} at {o.stage}: {o.message}" for o in outcomes if o.outcome == "failed"
    ]
    assert not failed, "\n".join(failed)
    for outcome in outcomes:
        if outcome.outcome == "refused":
            assert outcome.stage == "params" and outcome.message.startswith("model.steps.model.estimator: ")
            assert "\n" not in outcome.message and ("use " in outcome.message or "set " in outcome.message)
    assert {o.task for o in outcomes} == {"classification", "regression"}


@pytest.mark.penguins
def test_the_penguins_serve_the_estimators_people_pick_and_the_readme_says_which(measured):
    outcomes, left_out = measured
    served = counts(outcomes)
    for scaled in (False, True):
        assert served["classification"][scaled][0] >= 25, served
        assert served["regression"][scaled][0] >= 40, served
    every_tree = {o.estimator for o in outcomes if o.scaled and o.outcome == "served"}
    assert {"RandomForestClassifier", "GradientBoostingRegressor", "HistGradientBoostingClassifier",
            "HistGradientBoostingRegressor", "BaggingClassifier", "DecisionTreeRegressor"} <= every_tree  # fmt: skip
    assert active_example() == DEFAULT_EXAMPLE
    assert readme_section() == readme_table(outcomes, left_out), (
        "README's Supported estimators is stale: run `python -m scripts.estimator_coverage --readme`"
    )
