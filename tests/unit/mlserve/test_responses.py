"""The prediction responses' JSON: the numbers numpy's rounding gives, whichever way they are written, and a
regression's float32 predictions as the shortest text that reads back as the same float32."""

import json

import numpy as np
import pytest

from mlserve.responses import BATCH_ROWS, ClassificationJson, RegressionJson, numbers_json, probability_rows_json

EDGES = [
    [0.0, 0.0, 1.0],
    [1.0, 0.0, 0.0],
    [0.5, 0.25, 0.25],
    [1e-6, 5e-7, 4.9e-7],
    [0.9999995, 0.0000005, 0.3],
    [0.123456, 0.1, 0.01],
    [1e-4, 1e-5, 0.999999],
    [0.93, 0.07, 0.0],
    [0.99999934, 0.0, 0.00000066],
]


def rounded(probabilities: np.ndarray) -> list:
    return probabilities.astype(np.float64).round(6).tolist()


def test_rows_written_as_digits_equal_numpys_rounding():
    random = np.random.default_rng(0).random((5000, 3))
    probabilities = np.vstack([EDGES, random, random / 1000]).astype(np.float32)
    text = probability_rows_json(probabilities)
    assert json.loads(text) == rounded(probabilities)
    assert text.startswith("[[0.0,0.0,1.0],[1.0,0.0,0.0],[0.5,0.25,0.25],[0.000001,0.0,0.0],[1.0,0.0,0.3],")


@pytest.mark.parametrize("rows", [1, BATCH_ROWS - 1, BATCH_ROWS, 3 * BATCH_ROWS])
def test_small_and_large_responses_carry_the_same_values(rows):
    probabilities = np.resize(np.array(EDGES, dtype=np.float32), (rows, 3))
    labels = np.array(["Adelie", "Chinstrap", "Gentoo"], dtype=object)[probabilities.argmax(axis=1)]
    body = json.loads(ClassificationJson(["Adelie", "Chinstrap", "Gentoo"], "7")(labels, probabilities))
    single = ["prediction"] if rows == 1 else []  # one row: also the one answer, for clients that read it alone
    assert list(body) == [*single, "predictions", "probabilities", "classes", "model_version"]
    assert body["predictions"] == labels.tolist() and body["probabilities"] == rounded(probabilities)
    assert rows > 1 or body["prediction"] == labels[0]
    assert body["classes"] == ["Adelie", "Chinstrap", "Gentoo"] and body["model_version"] == "7"


@pytest.mark.parametrize("bad", [np.nan, -0.1, 1.5])
def test_a_probability_outside_0_1_is_a_server_error_not_a_number(bad):
    probabilities = np.full((BATCH_ROWS, 3), 0.25, dtype=np.float32)
    probabilities[5, 1] = bad
    with pytest.raises(ValueError, match="outside"):
        probability_rows_json(probabilities)


def test_a_label_the_manifest_does_not_list_is_still_written_as_json():
    body = ClassificationJson(["Adelie"], 1)(np.array(['Say "hi"'], dtype=object), np.array([[1.0]], dtype=np.float32))
    assert json.loads(body)["predictions"] == ['Say "hi"']


def test_float32_numbers_are_written_as_the_shortest_text_that_reads_back_the_same():
    generator = np.random.default_rng(0)
    values = np.concatenate(
        [
            generator.normal(0, 200, 2000),
            generator.normal(0, 1, 500) * 10.0 ** generator.integers(-40, 39, 500),
            [0.0, -0.0, 1.0, 0.1, 151.23346, 3.4028235e38, -3.4028235e38, 1e-45],
        ]
    ).astype(np.float32)
    text = numbers_json(values.reshape(-1, 1))  # a regression's [N, 1] output
    assert np.array_equal(np.array(json.loads(text), dtype=np.float32), values)
    assert text.startswith("[") and ",151.23346," in text
    digits = [part.lstrip("-").split("e")[0].replace(".", "").strip("0") for part in text[1:-1].split(",")]
    assert max(map(len, digits)) <= 9  # a float32 never needs more than 9 significant digits


def test_a_number_that_is_not_finite_is_written_as_null():
    assert numbers_json(np.array([[1.5], [np.inf], [-np.inf], [np.nan]], dtype=np.float32)) == "[1.5,null,null,null]"


def test_regression_and_mlflow_bodies():
    predictions = np.array([[151.23346], [2.0]], dtype=np.float32)
    assert RegressionJson(7)(predictions) == '{"predictions":[151.23346,2.0],"model_version":7}'
    assert RegressionJson(7).mlflow(predictions) == '{"predictions":[151.23346,2.0]}'
    labels, probabilities = np.array([2, 0]), np.array([[0.1, 0.2, 0.7], [1.0, 0.0, 0.0]], dtype=np.float32)
    assert ClassificationJson([0, 1, 2], 7).mlflow(labels, probabilities) == '{"predictions":[2,0]}'
