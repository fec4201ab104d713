import sqlite3

import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from mlproject import config
from mlproject.champion import champion_from_mlflow
from mlproject.tracking import NO_CHAMPION, TrackingError, champion_in_store, mlflow_errors

TAG = "dvc_md5.models/model.skops"

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


def test_the_champion_read_from_the_store_file_is_what_mlflow_answers(tmp_path, monkeypatch):
    store = tmp_path / "mlflow.db"
    monkeypatch.setenv(config.TRACKING_URI_VARIABLE, f"sqlite:///{store}")
    registry = config.RegistryParams(model_name="penguins", champion_alias="champion")
    mlflow_client = MlflowClient(f"sqlite:///{store}")
    experiment = mlflow_client.create_experiment("e", artifact_location=(tmp_path / "mlruns").as_uri())
    mlflow_client.create_registered_model("penguins")
    assert champion_in_store(store, registry, TAG) == NO_CHAMPION == champion_from_mlflow(registry, TAG)
    for md5 in ("aaa", "bbb"):
        run = mlflow_client.create_run(experiment, tags={TAG: md5})
        mlflow_client.create_model_version("penguins", f"runs:/{run.info.run_id}/model", run.info.run_id)
    mlflow_client.set_registered_model_alias("penguins", "champion", "2")
    assert champion_in_store(store, registry, TAG) == (2, "bbb") == champion_from_mlflow(registry, TAG)
    mlflow_client.set_registered_model_alias("penguins", "champion", "1")
    assert champion_in_store(store, registry, TAG) == (1, "aaa")
    assert (
        champion_in_store(store, registry, "no such tag") == (1, None) == champion_from_mlflow(registry, "no such tag")
    )
    other = config.RegistryParams(model_name="penguins", champion_alias="challenger")
    assert champion_in_store(store, other, TAG) == NO_CHAMPION == champion_from_mlflow(other, TAG)


def test_a_store_not_laid_out_as_read_is_left_to_mlflow_and_a_missing_one_holds_no_champion(tmp_path):
    registry = config.RegistryParams()
    assert champion_in_store(tmp_path / "mlflow.db", registry, TAG) == NO_CHAMPION
    assert not (tmp_path / "mlflow.db").exists()  # read only: nothing made
    with sqlite3.connect(tmp_path / "other.db") as connection:
        connection.execute("CREATE TABLE registered_model_aliases (alias TEXT)")
    assert champion_in_store(tmp_path / "other.db", registry, TAG) is None
