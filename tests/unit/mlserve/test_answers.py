"""What a classifier answers, by what it gives: probabilities, decision_function's scores (one per class, or
one per row for two classes), or labels only; each as scikit-learn computes it, and as the OpenAPI document
describes it."""

from __future__ import annotations

import json

import jsonschema_rs
import numpy as np
import pytest

from mlproject import config
from mlproject.inputs import model_input
from mlserve.answers import Answers
from mlserve.app import create_app
from mlserve.manifest import decode
from tests.helpers import served_model

PARAMS = {
    "LinearSVC": {"estimator": "LinearSVC"},
    "SVC": {"estimator": "SVC"},
    "SVC with probabilities": {"estimator": "SVC", "params": {"probability": True}},
    "hard vote": {"estimator": "VotingClassifier", "params": {"estimators": {
        "linear": {"estimator": "LogisticRegression"}, "tree": {"estimator": "DecisionTreeClassifier"}}}},
}  # fmt: skip
GIVES = {"LinearSVC": "scores", "SVC": "scores", "SVC with probabilities": "probabilities", "hard vote": None}


@pytest.fixture(scope="module", params=[(name, classes) for name in PARAMS for classes in (2, 3)], ids=str)
def served(request, tmp_path_factory, penguins_schema, penguins):
    """A model of the penguins (two classes: Adelie and Chinstrap only) and its server."""
    name, classes = request.param
    params = config.parse_params({"features": {"scale_numbers": True}, "model": {"steps": {"classify": PARAMS[name]}}})
    schema = penguins_schema
    if classes == 2:
        from dataclasses import replace

        schema = replace(schema, target=replace(schema.target, categories=("Adelie", "Chinstrap")))
    model = served_model(schema, params, tmp_path_factory.mktemp("bundle"))
    client = create_app({"MODEL_DIR": str(model.bundle_dir), "LOAD_IN_BACKGROUND": False}).test_client()
    return name, schema, model, client


def test_a_classifier_answers_what_it_gives_as_scikit_learn_computes_it(served):
    name, schema, model, client = served
    test = model.splits[1]
    records = json.loads(test[schema.feature_names].to_json(orient="records"))
    body = client.post("/predict", data=json.dumps(records), content_type="application/json").json
    features = model_input(test, schema)
    assert body["predictions"] == model.fitted.predict(features).tolist()
    gives = GIVES[name]
    assert set(body) == {"predictions", "classes", "model_version", *([gives] if gives else [])}
    if gives == "scores":
        expected = model.fitted.decision_function(features)
        np.testing.assert_allclose(body["scores"], expected, atol=1e-5, rtol=0)
        assert np.asarray(body["scores"]).ndim == (1 if len(schema.classes) == 2 else 2)
    if gives == "probabilities":
        np.testing.assert_allclose(body["probabilities"], model.fitted.predict_proba(features), atol=1e-5, rtol=0)
    manifest = client.get("/metadata").json
    assert manifest.get("class_scores") == {"scores": "decision_function", "probabilities": "probabilities"}.get(gives)
    document = client.get("/openapi.json").json
    answer = {**document["components"]["schemas"]["Prediction"], "components": document["components"]}
    assert jsonschema_rs.validator_for(answer).is_valid(body)
    assert set(answer["properties"]) >= {"predictions", "classes"} and (gives is None or gives in answer["properties"])
    for other in {"scores", "probabilities"} - {gives}:
        assert other not in answer["properties"]


def test_a_prediction_that_is_not_a_finite_number_is_null(served):
    """An overflow far outside the training data has no JSON number: it is written as null."""
    _, _, model, _ = served
    manifest = decode((model.bundle_dir / "manifest.json").read_bytes())
    answers = Answers(manifest)
    outputs = [np.array([manifest.classes[0]], dtype=object)]
    if manifest.class_scores:
        width = (
            1
            if (manifest.class_scores == "decision_function" and len(manifest.classes) == 2)
            else len(manifest.classes)
        )
        outputs.append(np.full((1, width), np.inf))
    body = json.loads(answers.predict(outputs))
    key = {"decision_function": "scores", "probabilities": "probabilities"}.get(manifest.class_scores)
    if key:
        assert np.asarray(body[key], dtype=object).ravel().tolist() == [None] * np.asarray(outputs[1]).size
