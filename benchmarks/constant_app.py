"""The stack's ceiling: a Flask app that answers every POST with a fixed prediction, no model, no parsing."""

from flask import Flask, Response

BODY = '{"predictions":["Adelie"],"probabilities":[[1.0,0.0,0.0]],"model_version":0}'

app = Flask(__name__)


@app.post("/predict")
def predict():
    return Response(BODY, mimetype="application/json")


@app.get("/ready")
def ready():
    return Response('{"status":"ready"}', mimetype="application/json")
