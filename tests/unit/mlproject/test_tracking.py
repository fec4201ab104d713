import pytest
from mlflow.exceptions import MlflowException

from mlproject import config
from mlproject.tracking import TrackingError, mlflow_errors

RETRIES = (
    "API request to http://127.0.0.1:5050/api/2.0/mlflow/runs/create failed with exception "
    "HTTPConnectionPool(host='127.0.0.1', port=5050): Max retries exceeded with url: /api/2.0/mlflow/runs/create "
    "(Caused by ResponseError('too many 503 error responses'))"
)
REFUSED = (
    "API request to http://127.0.0.1:5050/api/2.0/mlflow/experiments/get-by-name failed with exception "
    "HTTPConnectionPool(host='127.0.0.1', port=5050): Max retries exceeded with url: ... (Caused by "
    "NewConnectionError('<urllib3.connection.HTTPConnection object>: Failed to establish a new connection: "
    "[Errno 111] Connection refused'))"
)


@pytest.mark.parametrize(
    ("message", "said"),
    [
        (RETRIES, "the server kept answering 503 (is its database or storage down?)"),
        (REFUSED, "the server does not answer (is it running?)"),
        ("Registered Model with name=x not found\nmore detail", "Registered Model with name=x not found"),
    ],
)
def test_mlflow_failures_are_one_line_that_says_what_to_check(message, said, monkeypatch):
    monkeypatch.setenv(config.TRACKING_URI_VARIABLE, "http://127.0.0.1:5050")
    with pytest.raises(TrackingError) as raised, mlflow_errors("registering the model"):
        raise MlflowException(message)
    assert str(raised.value) == f"MLflow failed while registering the model at http://127.0.0.1:5050: {said}"
