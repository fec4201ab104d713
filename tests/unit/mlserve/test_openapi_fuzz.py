"""Schemathesis against the server's own /openapi.json: generated requests, valid and invalid, to every
operation of a classifier's server, of one without probabilities (decision scores) and of a regression
model's, with every check: no 5xx, every response
conforms to the document (status, content type, schema), every schema-valid request is accepted (CSV and
MLflow's forms included) and every schema-violating one is refused."""

import tempfile
from pathlib import Path

import pandas as pd
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode

from mlproject import config
from mlproject.prepare import split
from mlproject.schema import DatasetSchema, clean
from mlserve.app import create_app
from tests.helpers import (
    fit_reference,
    penguins_example,
    regression_params,
    regression_schema,
    synthetic_frame,
    write_bundle,
)

# Per operation and mode; GETs without parameters need few. The regression server shares every code path
# but the answer's, so fewer examples suffice there.
EXAMPLES_PER_OPERATION = {"classification": 400, "scores": 100, "regression": 100}
COUNTS = {"classification": 0, "scores": 0, "regression": 0, "server_errors": 0}


def _schema(
    frame: pd.DataFrame, schema: DatasetSchema, params: config.Params, kind: str | None = None
) -> schemathesis.BaseSchema:
    """Schemathesis reads the document when this module is collected, so the apps are built here."""
    train, test = split(frame, schema, test_size=0.2, seed=42)
    bundle = write_bundle(
        Path(tempfile.mkdtemp(prefix="fuzz-bundle-")), fit_reference(train, params, schema), test, schema
    )
    document = schemathesis.openapi.from_wsgi("/openapi.json", create_app({"MODEL_DIR": str(bundle), "MAX_ROWS": 50}))
    document.config.generation.update(
        modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
        max_examples=EXAMPLES_PER_OPERATION[kind or schema.task],
    )
    # More rows than the batch limit is refused with 413 (documented), a rejection like any other.
    document.config.checks.negative_data_rejection.expected_statuses.append("413")
    return document


penguins = penguins_example()
classifier = _schema(clean(penguins.load_raw(), penguins.SCHEMA), penguins.SCHEMA, config.Params())
label_only = config.parse_params({"features": {"scale_numbers": True},
                                   "model": {"steps": {"classify": {"estimator": "LinearSVC"}}}})  # fmt: skip
scores = _schema(clean(penguins.load_raw(), penguins.SCHEMA), penguins.SCHEMA, label_only, "scores")
regression = _schema(synthetic_frame(regression_schema(), rows=240, seed=1), regression_schema(), regression_params())


def conforms_and_never_fails(case, task: str) -> None:
    response = case.call()
    COUNTS[task] += 1
    COUNTS["server_errors"] += response.status_code >= 500
    assert response.status_code < 500, response.text
    # The document is exact: every schema-valid request is accepted, every other refused.
    case.validate_response(response)


@classifier.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_of_a_classifier_conforms_and_never_fails(case):
    conforms_and_never_fails(case, "classification")


@scores.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_of_a_classifier_without_probabilities_conforms_and_never_fails(case):
    conforms_and_never_fails(case, "scores")


@regression.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_of_a_regression_model_conforms_and_never_fails(case):
    conforms_and_never_fails(case, "regression")


def test_the_fuzzing_sent_enough_requests():
    """Runs after the parametrized tests above (same module, file order)."""
    total = COUNTS["classification"] + COUNTS["scores"] + COUNTS["regression"]
    print(
        f"\nschemathesis: {total} requests, {COUNTS['server_errors']} server errors "
        f"({COUNTS['classification']} to the classifier, {COUNTS['scores']} to the one without probabilities, "
        f"{COUNTS['regression']} to the regression model)"
    )
    assert COUNTS["classification"] >= 1000 and COUNTS["scores"] >= 250 and COUNTS["regression"] >= 250
    assert COUNTS["server_errors"] == 0
