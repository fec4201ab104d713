"""Schemathesis against the server's own /openapi.json: generated requests, valid and invalid, to every
operation. No 5xx, and every response must conform to the document (status, content type, schema)."""

import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from mlproject import config
from mlproject.dataset import SCHEMA, load_raw
from mlproject.prepare import split
from mlproject.schema import clean
from mlproject.train import fit
from mlserve.app import create_app
from tests.conftest import write_bundle

EXAMPLES_PER_OPERATION = 400  # per operation and mode; GETs without parameters need few
COUNTS = {"requests": 0, "server_errors": 0}


def _app():
    """Schemathesis reads the schema when this module is collected, so the app is built here."""
    train, test = split(clean(load_raw(), SCHEMA), SCHEMA, test_size=0.2, seed=42)
    bundle = write_bundle(Path(tempfile.mkdtemp(prefix="fuzz-bundle-")), fit(train, config.Params()), test)
    return create_app({"MODEL_DIR": str(bundle), "MAX_ROWS": 50})


schema = schemathesis.openapi.from_wsgi("/openapi.json", _app())
schema.config.generation.update(
    modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], max_examples=EXAMPLES_PER_OPERATION
)
# More rows than the batch limit is refused with 413 (documented), a rejection like any other.
schema.config.checks.negative_data_rejection.expected_statuses.append("413")


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_conforms_and_never_fails(case):
    response = case.call()
    COUNTS["requests"] += 1
    COUNTS["server_errors"] += response.status_code >= 500
    assert response.status_code < 500, response.text
    # /predict's document is exact: every schema-valid body must be accepted. MLflow's protocol ties
    # fields together (a CSV text's header, dataframe_split's column order, equal column lengths), which
    # a schema cannot say: there, conformance is checked, not that every schema-valid body is accepted.
    loose = [positive_data_acceptance] if case.path == "/invocations" else []
    case.validate_response(response, excluded_checks=loose)


def test_the_fuzzing_sent_enough_requests():
    """Runs after the parametrized test above (same module, file order)."""
    print(f"\nschemathesis: {COUNTS['requests']} requests, {COUNTS['server_errors']} server errors")
    assert COUNTS["requests"] >= 1000
    assert COUNTS["server_errors"] == 0
