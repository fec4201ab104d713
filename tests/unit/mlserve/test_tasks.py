"""The other tasks and class types through Flask's test client, on bundles exported in-process: a regression
model (with a column name ONNX must rename) and a classifier whose classes are the integers 0, 1 and 2."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mlproject.inputs import model_input
from mlserve.app import create_app
from tests.helpers import integer_class_schema, regression_schema

RECORD = {"od280/od315 ratio": 2.5, "alcohol": 13.0, "colour": "red"}
ROW = [2.5, 13.0, "red"]


def client_of(directory):
    return create_app({"MODEL_DIR": str(directory), "LOAD_IN_BACKGROUND": False, "MAX_ROWS": 500}).test_client()


def predict(client, body, path="/predict"):
    return client.post(path, data=json.dumps(body), content_type="application/json")


@pytest.fixture
def regression(regression_model):
    return client_of(regression_model.bundle_dir)


@pytest.fixture
def test_rows(regression_model):
    """The held-out rows as a frame and as records (nulls included), and what scikit-learn predicts for them."""
    _, test = regression_model.splits
    frame = test[regression_schema().feature_names]
    expected = regression_model.fitted.predict(model_input(frame, regression_schema()))
    return frame, json.loads(frame.to_json(orient="records")), expected


def assert_within_tolerance(client, predictions, expected):
    tolerance = client.get("/metadata").json["tolerance"]
    np.testing.assert_allclose(predictions, expected, rtol=tolerance["relative"], atol=tolerance["absolute"])


def test_regression_predicts_what_scikit_learn_predicts_for_every_body_form(regression, test_rows):
    _, records, expected = test_rows
    rows = [list(record.values()) for record in records]
    for body, wanted in ((records, expected), (rows, expected), (records[0], expected[:1]), (rows[0], expected[:1])):
        response = predict(regression, body)
        assert response.status_code == 200, response.json
        single = ["prediction"] if len(wanted) == 1 else []
        assert list(response.json) == [*single, "predictions", "model_version"] and response.json["model_version"] == 7
        assert_within_tolerance(regression, response.json["predictions"], wanted)
        assert not single or response.json["prediction"] == response.json["predictions"][0]


def test_regression_numbers_keep_the_decimals_the_tolerance_vouches_for(regression):
    """The bundle's tolerance is 1e-4: four decimals, written as their shortest text."""
    predictions = predict(regression, [RECORD, ROW, {**RECORD, "alcohol": None}]).json["predictions"]
    assert all(round(number, 4) == number for number in predictions), predictions
    assert any(round(number, 3) != number for number in predictions), predictions  # the fourth is not cut


def test_a_prediction_far_outside_the_training_data_is_computed_in_float64(regression, regression_model):
    """A number at float32's limit reaches a linear model as scikit-learn reads it, and its answer (beyond
    float32's range) is served, not lost to an overflow."""
    far = {**RECORD, "od280/od315 ratio": 3e38}
    response = predict(regression, [RECORD, far])
    expected = regression_model.fitted.predict(model_input(pd.DataFrame([far]), regression_schema()))
    assert response.status_code == 200 and abs(response.json["predictions"][1]) > 3.5e38
    np.testing.assert_allclose(response.json["predictions"][1], expected[0], rtol=1e-12)


def test_regression_mlflow_protocol_json_and_csv(regression, test_rows):
    frame, records, expected = test_rows
    split = {"dataframe_split": {"columns": list(frame.columns), "data": [list(r.values()) for r in records]}}
    answers = [
        predict(regression, split, "/invocations"),
        predict(regression, {"dataframe_records": records}, "/invocations"),
        regression.post("/invocations", data=frame.to_csv(index=False), content_type="text/csv"),
    ]
    for response in answers:
        assert response.status_code == 200, response.json
        assert list(response.json) == ["predictions"]
        assert_within_tolerance(regression, response.json["predictions"], expected)


@pytest.mark.parametrize(
    ("body", "field", "problem"),
    [
        ({**RECORD, "od280/od315 ratio": "high"}, "od280/od315 ratio", "expected a number, got a string"),
        ({k: v for k, v in RECORD.items() if k != "od280/od315 ratio"}, "od280/od315 ratio", "missing field"),
        ({**RECORD, "od280_od315_ratio": 2.5}, "od280_od315_ratio", "unknown field"),  # ONNX's name is not a field
        ({**RECORD, "colour": "rosé"}, "colour", "unknown category 'rosé'; allowed: red, white"),
    ],
)
def test_regression_bad_input_is_400_naming_row_and_the_users_field(regression, body, field, problem):
    response = predict(regression, [RECORD, body])
    assert response.status_code == 400
    assert {"row": 1, "field": field, "problem": problem} in response.json["detail"]


def test_regression_bad_positional_rows_and_csv_cells_are_400(regression):
    response = predict(regression, [ROW, [2.5, 13.0]])
    assert response.status_code == 400
    assert "needs 3 values (od280/od315 ratio, alcohol, colour)" in response.json["detail"][0]["problem"]
    csv = "od280/od315 ratio,alcohol,colour\n2.5,13,red\nhigh,13,red\n"
    response = regression.post("/invocations", data=csv, content_type="text/csv")
    assert response.status_code == 400
    assert response.json["detail"] == [
        {"row": 1, "field": "od280/od315 ratio", "problem": "expected a number, got a string"}
    ]


def test_the_regression_openapi_document_describes_numbers(regression):
    schemas = regression.get("/openapi.json").json["components"]["schemas"]
    assert schemas["Prediction"]["required"] == ["predictions", "model_version"]
    for answer in (schemas["Prediction"], schemas["MlflowPrediction"]):
        assert answer["properties"]["predictions"]["items"]["type"] == ["number", "null"]
    assert list(schemas["Record"]["properties"]) == list(RECORD)


def test_regression_metadata_is_the_manifest(regression):
    manifest = regression.get("/metadata").json
    assert (manifest["task"], manifest["outputs"], manifest["target"]) == ("regression", ["predictions"], "quality")
    assert "classes" not in manifest
    feeds = dict(zip((column["name"] for column in manifest["inputs"]), manifest["feeds"], strict=True))
    assert feeds["od280/od315 ratio"] == "od280_od315_ratio"  # ONNX's name


def test_integer_classes_come_back_as_json_integers(integer_class_model):
    client = client_of(integer_class_model.bundle_dir)
    _, test = integer_class_model.splits
    schema = integer_class_schema()
    features = model_input(test, schema)
    expected = integer_class_model.fitted.predict(features).tolist()
    records = json.loads(test[schema.feature_names].to_json(orient="records"))
    answer = predict(client, records).json
    assert answer["predictions"] == expected and {type(label) for label in answer["predictions"]} == {int}
    assert answer["classes"] == [0, 1, 2] and {type(label) for label in answer["classes"]} == {int}
    np.testing.assert_allclose(answer["probabilities"], integer_class_model.fitted.predict_proba(features), atol=1e-5)
    assert predict(client, {"dataframe_records": records}, "/invocations").json == {"predictions": expected}
    labels = {"type": "integer", "enum": [0, 1, 2]}
    schemas = client.get("/openapi.json").json["components"]["schemas"]
    assert schemas["Prediction"]["properties"]["predictions"]["items"] == labels
    assert schemas["Prediction"]["properties"]["classes"]["items"] == labels
    assert schemas["MlflowPrediction"]["properties"]["predictions"]["items"] == labels
