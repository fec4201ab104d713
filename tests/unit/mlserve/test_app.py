"""The serving app through Flask's test client, on a bundle exported in-process from a real fitted model."""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import numpy as np
import pandas as pd
import pytest

from mlproject.inputs import model_input
from mlserve import bundle as bundles
from mlserve.app import create_app, settings_from_env
from tests.helpers import MLFLOW_VERSION

RECORD = {"bill_length_mm": 39.1, "bill_depth_mm": 18.7, "flipper_length_mm": 181, "body_mass_g": 3750,
          "island": "Torgersen", "sex": "male"}  # fmt: skip
ROW = [39.1, 18.7, 181, 3750, "Torgersen", "male"]


@pytest.fixture
def client(bundle_dir):
    app = create_app({"MODEL_DIR": str(bundle_dir), "LOAD_IN_BACKGROUND": False, "MAX_ROWS": 500})
    return app.test_client()


def predict(client, body, path="/predict"):
    return client.post(path, data=json.dumps(body), content_type="application/json")


def test_service_endpoints(client):
    assert client.get("/").status_code == 200 and b"running" in client.get("/").data
    assert client.get("/health").json == {"status": "ok"}
    assert client.get("/ready").json == {"status": "ready", "model_version": 7}
    manifest = client.get("/metadata").json
    assert (manifest["model_name"], manifest["model_version"]) == ("penguins-classifier", 7)
    assert manifest["inputs"][4] == {"name": "island", "type": "category", "nullable": False,
                                     "categories": ["Biscoe", "Dream", "Torgersen"]}  # fmt: skip
    assert client.get("/ping").status_code == 200
    version = client.get("/version")
    assert version.data == MLFLOW_VERSION.encode() and version.mimetype == "application/json"  # as MLflow answers


def test_every_body_form_predicts_what_scikit_learn_predicts(client, fitted, splits, penguins_schema):
    _, test = splits
    features = model_input(test, penguins_schema)
    expected = list(fitted.predict(features))
    records = json.loads(test[penguins_schema.feature_names].to_json(orient="records"))
    rows = [list(record.values()) for record in records]
    for body in (records, rows):
        response = predict(client, body)
        assert response.status_code == 200, response.json
        assert response.json["predictions"] == expected
        np.testing.assert_allclose(response.json["probabilities"], fitted.predict_proba(features), atol=1e-5)
        assert response.json["classes"] == ["Adelie", "Chinstrap", "Gentoo"]
    assert predict(client, RECORD).json["predictions"] == ["Adelie"]
    assert predict(client, ROW).json["predictions"] == ["Adelie"]


def test_records_and_positional_rows_may_be_mixed(client):
    response = predict(client, [RECORD, ROW, {**RECORD, "sex": None}])
    assert response.status_code == 200, response.json
    alone = [predict(client, body).json for body in (RECORD, ROW, {**RECORD, "sex": None})]
    assert response.json["probabilities"] == [answer["probabilities"][0] for answer in alone]


def test_nullable_fields_accept_null(client):
    response = predict(client, {**RECORD, "sex": None, "body_mass_g": None})
    assert response.status_code == 200 and response.json["predictions"] == ["Adelie"]


@pytest.mark.parametrize(
    ("body", "field", "problem"),
    [
        ({k: v for k, v in RECORD.items() if k != "sex"}, "sex", "missing field"),
        ({**RECORD, "colour": "blue"}, "colour", "unknown field"),
        ({**RECORD, "bill_length_mm": "39.1"}, "bill_length_mm", "expected a number, got a string"),
        ({**RECORD, "bill_length_mm": True}, "bill_length_mm", "expected a number, got a boolean"),
        ({**RECORD, "flipper_length_mm": [181]}, "flipper_length_mm", "expected a number, got an array"),
        ({**RECORD, "island": None}, "island", "null is not allowed"),
        ({**RECORD, "island": "Atlantis"}, "island", "unknown category 'Atlantis'; allowed: Biscoe, Dream, Torgersen"),
        ({**RECORD, "sex": 1}, "sex", "expected a string, got a number"),
        ({**RECORD, "sex": {"a": 1}}, "sex", "expected a string, got an object"),
    ],
)
def test_bad_fields_are_400_naming_row_field_and_problem(client, body, field, problem):
    response = predict(client, [RECORD, body])
    assert response.status_code == 400
    assert {"row": 1, "field": field, "problem": response.json["detail"][0]["problem"]} == response.json["detail"][0]
    assert problem in response.json["detail"][0]["problem"]
    assert problem in response.json["error"]


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_refused(client, literal):
    body = json.dumps(RECORD).replace("39.1", literal)
    response = client.post("/predict", data=body, content_type="application/json")
    assert response.status_code == 400 and literal in response.json["error"]


def test_invocations_reads_nan_as_a_missing_value_as_mlflows_client_writes_it(client, fitted, penguins_schema):
    with_gaps = {**RECORD, "body_mass_g": None, "sex": None}
    body = json.dumps({"dataframe_records": [with_gaps]}).replace("null", "NaN")
    response = client.post("/invocations", data=body, content_type="application/json")
    assert response.status_code == 200, response.json
    expected = fitted.predict(model_input(pd.DataFrame([with_gaps]), penguins_schema)).tolist()
    assert response.json == {"predictions": expected}
    refused = client.post("/invocations", data=body.replace("NaN", "Infinity", 1), content_type="application/json")
    assert refused.status_code == 400 and "Infinity" in refused.json["message"]


@pytest.mark.parametrize("rows", [1, 100])  # 100 rows: the range is checked by numpy, not min() and max()
@pytest.mark.parametrize("number", ["1e999", "-1e999", "3.5e38", "-3.5e38", "9" * 400])
def test_numbers_too_large_for_a_float_are_refused(client, rows, number):
    with_null = [*ROW[:3], None, *ROW[4:]]  # a null beside the culprit must not hide it
    body = json.dumps([with_null] * (rows - 1) + [ROW])
    body = body[: body.rindex("3750")] + number + body[body.rindex("3750") + 4 :]  # in the last row
    response = client.post("/predict", data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.json["detail"] == [{"row": rows - 1, "field": "body_mass_g",
                                         "problem": "must be a finite number within ±3.4e+38"}]  # fmt: skip


@pytest.mark.parametrize("rows", [1, 100])
@pytest.mark.parametrize(
    ("plain", "with_nulls"),
    [(RECORD, {**RECORD, "sex": None, "body_mass_g": None}), (ROW, [*ROW[:3], None, ROW[4], None])],
    ids=["records", "positional"],
)
def test_nulls_in_a_batch_predict_as_they_do_alone(client, rows, plain, with_nulls):
    alone = predict(client, with_nulls).json
    batch = predict(client, [plain] * (rows - 1) + [with_nulls]).json
    assert batch["predictions"][-1] == alone["predictions"][0]
    assert batch["probabilities"][-1] == alone["probabilities"][0]
    assert batch["probabilities"][0] == predict(client, plain).json["probabilities"][0]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("{not json", "malformed JSON"),
        ("", "malformed JSON"),
        ("[]", "no rows"),
        ('"text"', "must be a record"),
        ("[1, [2]]", "not a mix"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ("[[1, 2]]", "a positional row needs 6 values"),
        ("[3]", "a positional row needs 6 values"),
    ],
)
def test_malformed_bodies_are_400(client, body, message):
    response = client.post("/predict", data=body, content_type="application/json")
    assert response.status_code == 400
    assert message in response.json["error"] or message in json.dumps(response.json.get("detail"))


def test_non_utf8_bodies_are_400(client):
    response = client.post("/predict", data=b"\xff\xfe{", content_type="application/json")
    assert response.status_code == 400 and "UTF-8" in response.json["error"]


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_wrong_content_type_is_415(client, content_type):
    response = client.post("/predict", data=json.dumps(RECORD), content_type=content_type)
    assert response.status_code == 415 and "Content-Type must be application/json" in response.json["error"]


def test_too_many_rows_and_too_large_bodies_are_413(bundle_dir):
    app = create_app({"MODEL_DIR": str(bundle_dir), "LOAD_IN_BACKGROUND": False, "MAX_ROWS": 3, "MAX_BODY_BYTES": 2000})
    client = app.test_client()
    response = predict(client, [ROW] * 4)
    assert response.status_code == 413 and "4 rows is more than the limit of 3" in response.json["error"]
    response = predict(client, [ROW] * 40)
    assert response.status_code == 413 and response.is_json


def test_wrong_method_and_unknown_path_answer_json(client):
    response = client.get("/predict")
    assert response.status_code == 405 and response.is_json and "POST" in response.headers["Allow"]
    response = client.get("/no/such/thing")
    assert response.status_code == 404 and response.json["error"].startswith("Not Found")


@pytest.mark.parametrize(
    "body",
    [
        {"dataframe_split": {"columns": list(RECORD)[::-1], "data": [ROW[::-1]]}},
        {"dataframe_split": {"index": [0], "columns": list(RECORD), "data": [ROW]}},
        {"dataframe_records": [RECORD]},
        {"instances": [RECORD]},
        {"instances": [ROW]},
        {"inputs": {k: [v] for k, v in RECORD.items()}},
        {"inputs": [RECORD]},
    ],
)
def test_mlflow_scoring_protocol_json(client, body):
    response = predict(client, body, "/invocations")
    assert response.status_code == 200, response.json
    assert response.json == {"predictions": ["Adelie"]}


def test_mlflow_scoring_protocol_csv(client):
    header = ",".join(RECORD)
    body = f"{header}\n39.1,18.7,181,3750,Torgersen,male\n46.5,17.9,192,3500,Dream,\n"
    response = client.post("/invocations", data=body, content_type="text/csv")
    assert response.status_code == 200 and response.json["predictions"][0] == "Adelie"
    bad = client.post("/invocations", data=f"{header}\nlong,18.7,181,3750,Torgersen,male\n", content_type="text/csv")
    assert bad.status_code == 400 and bad.json["detail"][0] == {
        "row": 0, "field": "bill_length_mm", "problem": "expected a number, got a string",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"dataframe_records": [RECORD], "instances": [RECORD]}, "exactly one of"),
        ({"records": [RECORD]}, "Received the fields: records."),
        ({"inputs": [RECORD], "extra": 1}, "unknown keys beside inputs: extra"),
        ({"inputs": [RECORD], "params": [1]}, "params must be an object"),
        ({"dataframe_split": {"columns": ["a"]}}, "must have 'data' (a list of rows)"),
        ({"dataframe_split": {"columns": list(RECORD), "data": [[1]]}}, "row 0 of 'data' is not a list of 6 values"),
        ({"dataframe_split": {"columns": ["a", "a"], "data": []}}, "'columns' must be a list of distinct names"),
        ({"dataframe_records": RECORD}, "Dataframe records format must be a list of records. Got dictionary."),
        ({"inputs": {"bill_length_mm": [1, 2], "sex": ["male"]}}, "same number of values"),
        ([RECORD], "Received list."),
    ],
)
def test_mlflow_protocol_mistakes_are_400_in_mlflows_error_shape(client, body, message):
    response = predict(client, body, "/invocations")
    assert response.status_code == 400 and message in response.json["message"]
    assert response.json["error_code"] == "BAD_REQUEST"


def test_invocations_drops_columns_the_model_does_not_use_and_ignores_params(client):
    expected = predict(client, {"dataframe_records": [RECORD]}, "/invocations").json
    for body in ({"dataframe_records": [{**RECORD, "species": "Gentoo", "id": 7}]},
                 {"dataframe_split": {"columns": ["id", *RECORD], "data": [[7, *RECORD.values()]]}},
                 {"dataframe_records": [RECORD], "params": {"temperature": 0.5}}):  # fmt: skip
        assert predict(client, body, "/invocations").json == expected
    refused = predict(client, [{**RECORD, "species": "Gentoo"}], "/predict")
    assert refused.status_code == 400 and refused.json["detail"][0]["problem"] == "unknown field"


def test_a_value_the_model_refuses_on_invocations_is_invalid_parameter_value_with_the_detail(client):
    response = predict(client, {"dataframe_records": [{**RECORD, "island": "Atlantis"}]}, "/invocations")
    assert response.status_code == 400 and response.json["error_code"] == "INVALID_PARAMETER_VALUE"
    assert response.json["detail"][0]["field"] == "island" and "Atlantis" in response.json["message"]


def test_the_openapi_document_covers_every_route(client):
    spec = client.get("/openapi.json").json
    assert spec["openapi"].startswith("3.1")
    routes = {rule.rule for rule in client.application.url_map.iter_rules() if rule.endpoint != "static"}
    assert routes == set(spec["paths"])
    record = spec["components"]["schemas"]["Record"]
    assert record["required"] == list(RECORD) and record["additionalProperties"] is False


def test_ready_is_503_until_the_model_is_loaded(bundle_dir, monkeypatch):
    release = threading.Event()
    real_load = bundles.load

    def slow_load(directory):
        release.wait(10)
        return real_load(directory)

    monkeypatch.setattr(bundles, "load", slow_load)
    app = create_app({"MODEL_DIR": str(bundle_dir), "LOAD_IN_BACKGROUND": True})
    client = app.test_client()
    assert client.get("/ready").status_code == 503
    response = predict(client, RECORD)
    assert response.status_code == 503 and response.headers["Retry-After"] == "1"
    release.set()
    assert app.extensions["model"].loaded.wait(10)
    assert client.get("/ready").status_code == 200


def test_the_server_imports_nothing_from_training():
    code = (
        "import sys, mlserve.app, mlserve.gunicorn_conf;"
        "training = {'mlproject', 'sklearn', 'mlflow', 'pandas', 'skops'};"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in training);"
        "print(bad)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_the_gunicorn_master_starts_no_runtime_its_workers_would_inherit():
    code = "import sys, mlserve.gunicorn_conf; print(sorted({'onnxruntime', 'numpy'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("charset", ["latin-1", "utf-16"])
def test_a_charset_other_than_utf8_is_415(client, charset):
    response = client.post("/predict", data=json.dumps(RECORD), content_type=f"application/json; charset={charset}")
    assert response.status_code == 415 and f"got {charset}" in response.json["error"]
    utf8 = client.post("/predict", data=json.dumps(RECORD), content_type="application/json; charset=UTF-8")
    assert utf8.status_code == 200


def test_probabilities_are_served_to_the_decimals_the_parity_tolerance_vouches_for(
    client, fitted, splits, penguins_schema
):
    """The tolerance is 1e-5: ONNX's float32 sums (0.8799990 for scikit-learn's 0.88) come back as 0.88,
    the numbers scikit-learn gives rounded to 5 decimals (to within one unit of the last, where a float32
    sum falls on the other side of a rounding boundary)."""
    _, test = splits
    records = json.loads(test[list(RECORD)].to_json(orient="records"))
    served = np.array(predict(client, records).json["probabilities"])
    assert client.get("/metadata").json["tolerance"]["absolute"] == 1e-5
    assert all(len(repr(float(p)).partition(".")[2]) <= 5 for p in served.ravel())
    sklearn = fitted.predict_proba(model_input(test, penguins_schema)).round(5)
    np.testing.assert_allclose(served, sklearn, atol=1.01e-5)
    assert (served == sklearn).mean() > 0.95


def test_settings_come_from_the_environment_typed_and_checked():
    assert settings_from_env({}) == {"MODEL_DIR": "models/serving", "MAX_BODY_BYTES": 16 * 1024 * 1024,
                                     "MAX_ROWS": 10_000, "LOAD_IN_BACKGROUND": False}  # fmt: skip
    given = {"MODEL_DIR": "/srv/model", "MAX_ROWS": "5", "LOAD_IN_BACKGROUND": "true", "UNRELATED": "x"}
    assert settings_from_env(given) == {"MODEL_DIR": "/srv/model", "MAX_BODY_BYTES": 16 * 1024 * 1024,
                                        "MAX_ROWS": 5, "LOAD_IN_BACKGROUND": True}  # fmt: skip
    assert settings_from_env({"LOAD_IN_BACKGROUND": "1"})["LOAD_IN_BACKGROUND"] is True


@pytest.mark.parametrize(
    ("variable", "value", "reason"),
    [("MAX_ROWS", "many", "Expected `int`"), ("MAX_BODY_BYTES", "0", ">= 1"), ("LOAD_IN_BACKGROUND", "maybe", "bool")],
)
def test_a_bad_setting_is_refused_naming_the_variable(variable, value, reason):
    with pytest.raises(ValueError, match=f"environment variable {variable}='{value}' is not valid") as refused:
        settings_from_env({variable: value})
    assert reason in str(refused.value)


def test_docs_page_and_its_assets_come_from_the_server(client):
    page = client.get("/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert 'url: "openapi.json"' in html and "https://" not in html
    for asset in ("swagger-ui.css", "swagger-ui-bundle.js"):
        assert f"docs/assets/{asset}" in html and client.get(f"/docs/assets/{asset}").status_code == 200
