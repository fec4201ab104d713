"""Property: whatever JSON a client posts, the answer is a 200 or a 4xx JSON error, never a 5xx."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlserve.app import create_app

FIELDS = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "island", "sex", "x"]
scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12)
field_values = scalars | st.sampled_from(["Biscoe", "Dream", "Torgersen", "male", "female", "", 1e308, 10**400])
json_documents = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=6)
        | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), children, max_size=7)
    ),
    max_leaves=30,
)
records = st.dictionaries(st.sampled_from(FIELDS), field_values, min_size=5, max_size=7)
rows = st.lists(field_values, min_size=5, max_size=7)
mlflow_keys = st.sampled_from(["dataframe_split", "dataframe_records", "instances", "inputs", "columns", "data"])
bodies = (
    json_documents
    | records
    | st.lists(records | rows, max_size=4)
    | st.dictionaries(mlflow_keys, json_documents | st.lists(records | rows, max_size=3), min_size=1, max_size=2)
)


@pytest.fixture(scope="module")
def client(bundle_dir):
    return create_app({"MODEL_DIR": str(bundle_dir), "LOAD_IN_BACKGROUND": False, "MAX_ROWS": 50}).test_client()


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies, path=st.sampled_from(["/predict", "/invocations"]))
def test_any_json_gets_200_or_a_4xx_json_error(client, body, path):
    response = client.post(path, data=json.dumps(body), content_type="application/json")
    assert response.status_code == 200 or 400 <= response.status_code < 500, (response.status_code, response.data)
    assert response.is_json
    if response.status_code != 200:
        message = response.json["message" if path == "/invocations" else "error"]
        assert isinstance(message, str) and message
    else:
        assert len(response.json["predictions"]) >= 1


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.binary(max_size=200), content_type=st.sampled_from(["application/json", "text/csv"]))
def test_any_bytes_get_200_or_a_4xx_json_error(client, body, content_type):
    response = client.post("/invocations", data=body, content_type=content_type)
    assert response.status_code == 200 or 400 <= response.status_code < 500, (response.status_code, response.data)
    assert response.is_json
