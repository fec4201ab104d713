"""Model outputs -> the JSON of a prediction, for /predict and for MLflow's /invocations.

Numbers are rounded to the decimals the export's parity check vouches for (its absolute tolerance): ONNX
computes in float32, so a forest's 0.88 comes out as 0.87999904, which is the model's 0.88 within that
tolerance. orjson then writes each float32 as the shortest text that reads back as the same float32, and
a number that is not finite (a float32 overflow on inputs far outside the training data) as null.
"""

from __future__ import annotations

import math

import numpy as np
import orjson

from mlserve.manifest import Manifest

NUMPY = orjson.OPT_SERIALIZE_NUMPY


def decimals(absolute_tolerance: float) -> int | None:
    """1e-5 -> 5 decimals; a tolerance of 0 promises every digit, so nothing is rounded."""
    return math.ceil(-math.log10(absolute_tolerance)) if absolute_tolerance > 0 else None


class Answers:
    """Writes the response bodies of one model: its task's keys, its classes and its version."""

    def __init__(self, manifest: Manifest):
        self.classification = manifest.task == "classification"
        self.decimals = decimals(manifest.tolerance.absolute)
        self.closing: dict[str, object] = {"classes": manifest.classes} if self.classification else {}
        self.closing["model_version"] = manifest.model_version

    def numbers(self, values: np.ndarray) -> np.ndarray:
        if self.decimals is None:
            return values
        return np.round(values.astype(np.float64), self.decimals).astype(np.float32)

    def predict(self, outputs: list[np.ndarray]) -> bytes:
        """{prediction (one row only), predictions, [probabilities, classes,] model_version}."""
        predictions = outputs[0].ravel().tolist() if self.classification else self.numbers(outputs[0].ravel())
        body: dict = {"prediction": predictions[0]} if len(predictions) == 1 else {}
        body["predictions"] = predictions
        if self.classification:
            body["probabilities"] = self.numbers(outputs[1])
        return orjson.dumps({**body, **self.closing}, option=NUMPY)

    def mlflow(self, outputs: list[np.ndarray]) -> bytes:
        """MLflow's answer: the labels or numbers only."""
        predictions = outputs[0].ravel().tolist() if self.classification else self.numbers(outputs[0].ravel())
        return orjson.dumps({"predictions": predictions}, option=NUMPY)
