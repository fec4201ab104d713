"""The model's floor: a Flask app that runs the bundle's ONNX model on one fixed row per POST and answers a
fixed body. No body read, no validation, no serialisation: what the model alone costs on this stack."""

import os
from pathlib import Path

from flask import Flask, Response

from benchmarks.constant_app import BODY
from benchmarks.harness import RECORD
from mlserve import bundle as bundles
from mlserve.inputs import Inputs

model = bundles.load(Path(os.environ["MODEL_DIR"]))
inputs = Inputs(model.manifest)
FEEDS = inputs.feeds_of(inputs.checked([RECORD]), 1)

app = Flask(__name__)


@app.post("/predict")
def predict():
    model.predict(FEEDS)
    return Response(BODY, mimetype="application/json")


@app.get("/ready")
def ready():
    return Response('{"status":"ready"}', mimetype="application/json")
