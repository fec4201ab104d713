"""MLflow's own scoring-server tests, ported: the HTTP cases of `tests/pyfunc/test_scoring_server.py` in
MLflow's repository (at the locked MLflow's version), each request sent to this server under gunicorn, for a
classifier and a regressor, and checked with MLflow's own assertions.

A case passes unchanged, or is an intended difference: then MLflow's assertion must fail here (a difference
that is gone is reported), this server's own must hold, and the README's table "Differences from
`mlflow models serve`" holds its row, which no other case may be missing. Cases MLflow's file has that need
a model of another kind (Keras tensors, an LLM chat model, a model that declares params, a pyfunc that reads
free strings) are ported to this model's rows where they test the protocol, and left out otherwise.
"""

from __future__ import annotations

import http.client
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import numpy as np
import pandas as pd
import pytest

from benchmarks.harness import BIN, free_port, gunicorn, running, venv_env
from mlproject import config
from mlserve import bundle as bundles
from tests.helpers import MLFLOW_VERSION, REPO

JSON, CSV = "application/json", "text/csv"


@dataclass(frozen=True)
class Answer:
    status: int
    content_type: str
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


@dataclass(frozen=True)
class Request:
    body: bytes | None
    content_type: str | None = JSON
    method: str = "POST"
    path: str = "/invocations"


def send(url: str, request: Request) -> Answer:
    """http.client, so that a request can go without a Content-Type (urllib would add one)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    headers = {"Content-Type": request.content_type} if request.content_type else {}
    try:
        connection.request(request.method, request.path, body=request.body, headers=headers)
        response = connection.getresponse()
        return Answer(response.status, response.getheader("Content-Type", ""), response.read())
    finally:
        connection.close()


@dataclass(frozen=True)
class Rows:
    """A model's test rows: its columns, then its target; a category column and a number column of it."""

    frame: pd.DataFrame
    target: str
    category: str
    number: str

    @property
    def features(self) -> pd.DataFrame:
        return self.frame.drop(columns=self.target)


def rows_of(bundle_dir, test: pd.DataFrame) -> Rows:
    manifest = bundles.load(bundle_dir).manifest
    names = [column.name for column in manifest.inputs]
    first = {kind: next(c.name for c in manifest.inputs if c.type == kind) for kind in ("category", "number")}
    return Rows(test[[*names, manifest.target]].head(8).reset_index(drop=True), manifest.target, **first)


def dumps(payload: object) -> bytes:
    """As MLflow's tests and client write JSON: a missing number is NaN."""
    return json.dumps(payload).encode()


def split(frame: pd.DataFrame) -> dict:
    return json.loads(json.dumps(frame.to_dict(orient="split")))


def with_charset(request: Request) -> Request:
    return Request(request.body, f"{request.content_type}; charset=UTF-8")


def records(rows: Rows) -> Request:
    return Request(dumps({"dataframe_records": rows.features.to_dict(orient="records")}))


def split_request(rows: Rows) -> Request:
    return Request(dumps({"dataframe_split": split(rows.features)}))


def changed(rows: Rows, column: str, value: Callable[[object], object]) -> Request:
    """The records with the first value of `column` that is not missing replaced by value(it)."""
    frame = rows.features.astype(object)
    index = frame[column].first_valid_index()
    frame.loc[index, column] = value(frame.loc[index, column])
    return Request(dumps({"dataframe_records": frame.to_dict(orient="records")}))


# MLflow's assertions, as its tests write them


def error_with(code: str, *phrases: str) -> Callable[[Answer], None]:
    def check(answer: Answer) -> None:
        body = answer.json()
        assert body.get("error_code") == code
        assert "message" in body
        for phrase in phrases:
            assert phrase in body["message"]

    return check


def with_stack_trace(answer: Answer) -> None:
    body = answer.json()
    assert body["error_code"] == "BAD_REQUEST" and "message" in body and "stack_trace" in body


def status(expected: int) -> Callable[[Answer], None]:
    def check(answer: Answer) -> None:
        assert answer.status == expected, answer.body[:300]

    return check


# This server's own, where it differs on purpose


def refused(code: str, status_code: int, *phrases: str) -> Callable[[Answer], None]:
    def check(answer: Answer) -> None:
        body = answer.json()
        assert answer.status == status_code and body["error_code"] == code and "stack_trace" not in body
        for phrase in phrases:
            assert phrase in body["message"], body["message"]

    return check


def names_missing_fields(answer: Answer) -> None:
    body = answer.json()
    assert answer.status == 400 and body["error_code"] == "INVALID_PARAMETER_VALUE" and "stack_trace" not in body
    assert {problem["problem"] for problem in body["detail"]} == {"missing field"}


NO_STACK_TRACE = "`stack_trace` in errors"
FRAME_NOT_FITTING = "A frame without the model's columns"
PARQUET = "Parquet bodies"
NO_CONTENT_TYPE = "No Content-Type"
UNKNOWN_CATEGORY = "A category the model never saw"
UNKNOWN_KEYS = "Keys beside the data other than `params`"
NUMBER_STRINGS = "Numbers sent as strings"


@dataclass(frozen=True)
class Case:
    name: str  # MLflow's test it comes from, or what the issue probed
    request: Callable[[Rows], Request]
    mlflow: Callable[[Answer], None]  # what MLflow's test asserts (or what `mlflow models serve` answers)
    difference: str | None = None  # the README row of an intended difference
    ours: Callable[[Answer], None] | None = None
    # what `mlflow models serve` answers on the champion, where its test's model (no signature) differs
    on_champion: Callable[[Answer], None] | None = None


def parquet(rows: Rows) -> Request:
    buffer = io.BytesIO()
    rows.features.to_parquet(buffer)
    return Request(buffer.getvalue(), "application/vnd.apache.parquet")


CASES = [
    Case("malformed_json_input_with_error_code_and_message", lambda rows: Request(b"this is,,,, not valid json"),
         error_with("BAD_REQUEST", "Invalid input. Ensure that input is a valid JSON formatted string.")),
    *[Case(f"invalid_json_format_with_error_code_and_message[{json.dumps(body)}]",
           lambda rows, body=body: Request(dumps(body)),
           error_with("BAD_REQUEST", "The input must be a JSON dictionary with exactly one of the input fields"))
      for body in (1, "1", [1], {"not": "a serialized dataframe"},
                   {"dataframe_records": [], "dataframe_split": {"data": []}})],
    Case("invalid_pandas_input_format[split as records]",
         lambda rows: Request(dumps({"dataframe_split": rows.features.to_dict(orient="records")})),
         error_with("BAD_REQUEST", "Dataframe split format must be a dictionary. Got list")),
    Case("invalid_pandas_input_format[records as split]",
         lambda rows: Request(dumps({"dataframe_records": split(rows.features)})),
         error_with("BAD_REQUEST", "Dataframe records format must be a list of records. Got dictionary.")),
    Case("invalid_dataframe_with_stacktrace_and_error_code",
         lambda rows: Request(dumps({"dataframe_split": {"index": [1, 2], "data": [[1], [2], [3]]}})),
         error_with("BAD_REQUEST", "Provided dataframe_split field is not a valid dataframe representation")),
    Case("incompatible_inference_dataframe_with_stacktrace_and_error_code",
         lambda rows: Request(dumps({"dataframe_split": split(pd.DataFrame(np.array(range(10))))})),
         with_stack_trace, FRAME_NOT_FITTING, names_missing_fields, error_with("INVALID_PARAMETER_VALUE")),
    Case("invalid_csv_input_with_stacktrace_and_error_code", lambda rows: Request(b"", CSV),
         with_stack_trace, NO_STACK_TRACE, refused("BAD_REQUEST", 400, "the CSV body is empty")),
    Case("correct_dataframes_with_pandas_records_orientation", records, status(200)),
    Case("correct_dataframes_with_pandas_records_orientation[charset]", lambda rows: with_charset(records(rows)),
         status(200)),
    Case("correct_dataframes_with_pandas_split_orientation", split_request, status(200)),
    Case("correct_dataframes_with_pandas_split_orientation[charset]", lambda rows: with_charset(split_request(rows)),
         status(200)),
    Case("invalid_content_type_request_with_unsupported_content_type_code",
         lambda rows: Request(json.dumps(split(rows.features)).encode(), "not_a_supported_content_type"),
         status(415)),
    Case("invalid_content_type_request_with_unrecognized_content_param",
         lambda rows: Request(json.dumps(split(rows.features)).encode(), f"{JSON}; something=something"),
         status(415)),
    Case("correct_tf_serving_sklearn[instances as lists]",
         lambda rows: Request(dumps({"instances": rows.features.to_numpy().tolist()})), status(200),
         on_champion=error_with("BAD_REQUEST", "could not convert string to float")),  # one array of one type
    Case("correct_tf_serving_keras_instances[instances as records]",
         lambda rows: Request(dumps({"instances": rows.features.to_dict(orient="records")})), status(200)),
    Case("correct_tf_serving_keras_inputs[inputs as columns]",
         lambda rows: Request(dumps({"inputs": rows.features.to_dict(orient="list")})), status(200)),
    Case("serving_model_with_param_schema[no params]", lambda rows: with_charset(split_request(rows)), status(200)),
    Case("serving_model_with_param_schema[undeclared param]",
         lambda rows: with_charset(Request(dumps({"dataframe_split": split(rows.features),
                                                  "params": {"invalid_param": "value"}}))), status(200)),
    # What the issue probed beyond MLflow's file, against `mlflow models serve` on the same champion
    Case("params: {}", lambda rows: Request(dumps({"dataframe_split": split(rows.features), "params": {}})),
         status(200)),
    Case("an extra column (the target) in records",
         lambda rows: Request(dumps({"dataframe_records": rows.frame.to_dict(orient="records")})), status(200)),
    Case("an extra column (the target) in a split frame",
         lambda rows: Request(dumps({"dataframe_split": split(rows.frame)})), status(200)),
    Case("an extra column (the target) in CSV", lambda rows: Request(rows.frame.to_csv(index=False).encode(), CSV),
         status(200)),
    Case("a number sent as a string", lambda rows: changed(rows, rows.number, str), status(200), NUMBER_STRINGS,
         refused("INVALID_PARAMETER_VALUE", 400, "expected a number, got a string")),
    Case("Content-Type with charset=utf8", lambda rows: Request(records(rows).body, f"{JSON}; charset=utf8"),
         status(415)),
    Case("Content-Type with MLflow 1's format=pandas-split",
         lambda rows: Request(split_request(rows).body, f"{JSON}; format=pandas-split"), status(415)),
    Case("Parquet", parquet, status(200), PARQUET,
         refused("BAD_REQUEST", 415, "application/json or text/csv", "does not read Parquet")),
    Case("no Content-Type", lambda rows: Request(records(rows).body, None), status(500), NO_CONTENT_TYPE,
         refused("BAD_REQUEST", 415, "got none")),
    Case("an unknown category", lambda rows: changed(rows, rows.category, lambda _: "Atlantis"), status(200),
         UNKNOWN_CATEGORY, refused("INVALID_PARAMETER_VALUE", 400, "unknown category 'Atlantis'")),
    Case("Infinity", lambda rows: changed(rows, rows.number, lambda _: float("inf")), with_stack_trace,
         NO_STACK_TRACE, refused("BAD_REQUEST", 400, "Infinity is not a JSON number")),
    Case("a misspelt params key", lambda rows: Request(dumps({"dataframe_split": split(rows.features),
                                                                "param": {"x": 1}})),
         status(200), UNKNOWN_KEYS, refused("BAD_REQUEST", 400, "unknown keys beside dataframe_split: param")),
]  # fmt: skip


@pytest.fixture(scope="module", params=["classifier", "regressor"])
def served(request, bundle_dir, splits, regression_model):
    if request.param == "classifier":
        directory, rows = bundle_dir, rows_of(bundle_dir, splits[1])
    else:
        directory, rows = regression_model.bundle_dir, rows_of(regression_model.bundle_dir, regression_model.splits[1])
    with gunicorn(directory) as server:
        yield server.url, rows


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_mlflows_case(served, case):
    url, rows = served
    answer = send(url, case.request(rows))
    if case.difference is None:
        case.mlflow(answer)
        return
    with pytest.raises(AssertionError):
        case.mlflow(answer)  # a difference that has gone: take the row out of the README and the mark off here
    assert case.ours is not None
    case.ours(answer)


def predictions(answer: Answer) -> list:
    assert answer.status == 200, answer.body[:300]
    return answer.json()["predictions"]


def test_every_form_mlflow_accepts_gets_the_same_predictions_as_predict(served):
    url, rows = served
    reference = send(url, Request(rows.features.to_json(orient="records").encode(), path="/predict"))
    expected = reference.json()["predictions"]
    answered = 0
    for case in CASES:
        answer = send(url, case.request(rows))
        if answer.status == 200:
            answered += 1
            assert predictions(answer) == expected, case.name
    assert answered == 13  # MLflow's 200s but Parquet, the string number, the unknown category and the misspelt key


def test_mlflows_scoring_client_reads_predictions_and_the_version(served):
    """MLflow's test_scoring_server_client: ScoringServerClient against this server."""
    from mlflow.pyfunc.scoring_server.client import ScoringServerClient

    url, rows = served
    parts = urlsplit(url)
    client = ScoringServerClient(parts.hostname, parts.port)
    client.wait_server_ready(timeout=10)
    answered = client.invoke(rows.features).get_predictions().iloc[:, 0].tolist()
    expected = send(url, Request(rows.features.to_json(orient="records").encode(), path="/predict")).json()
    assert answered == expected["predictions"]
    assert client.get_version() == MLFLOW_VERSION
    assert client.invoke(rows.features, params={"invalid_param": "value"}).get_predictions().iloc[:, 0].tolist() == (
        answered
    )


def readme_differences() -> dict[str, str]:
    """The rows of the README's table "Differences from `mlflow models serve`": first cell -> the rest."""
    section = (REPO / "README.md").read_text().split("### Differences from `mlflow models serve`", 1)[1]
    table = section[section.index("\n| Case") :].strip().split("\n\n", 1)[0].splitlines()[2:]
    return {row.split(" | ")[0].removeprefix("| ").strip(): row for row in table}


def test_the_readme_table_lists_exactly_the_intended_differences():
    marked = {case.difference for case in CASES if case.difference}
    assert set(readme_differences()) == marked


@pytest.mark.slow
@pytest.mark.penguins
def test_the_cases_describe_mlflow_models_serve_on_the_same_champion(reproduced):
    """The MLflow side of every case, asserted against `mlflow models serve` on the reproduced champion; where
    both servers answer 200, the predictions are identical."""
    serving = reproduced.root / "models/serving"
    rows = rows_of(serving, pd.read_csv(reproduced.root / config.TEST_DATA))
    params = reproduced.params()
    port = free_port()
    command = [str(BIN / "mlflow"), "models", "serve", "-m",
               f"models:/{params.registry.model_name}@{params.registry.champion_alias}", "--env-manager", "local",
               "-w", "1", "-h", "127.0.0.1", "-p", str(port)]  # fmt: skip
    env = venv_env() | {"MLFLOW_TRACKING_URI": f"sqlite:///{reproduced.root / 'mlflow.db'}"}
    failed = []
    with running(command, f"http://127.0.0.1:{port}", "/ping", env) as mlflow_server, gunicorn(serving) as ours:
        for case in CASES:
            theirs, mine = send(mlflow_server.url, case.request(rows)), send(ours.url, case.request(rows))
            try:
                (case.on_champion or case.mlflow)(theirs)
                if theirs.status == mine.status == 200:
                    assert predictions(theirs) == predictions(mine), "other predictions"
            except (AssertionError, KeyError, ValueError) as error:
                failed.append(f"{case.name}: {error!r:.300} <- {theirs.status} {theirs.body[:200]!r}")
        assert send(mlflow_server.url, Request(None, None, "GET", "/version")).body.decode() == MLFLOW_VERSION
    assert not failed, "\n".join(failed)
