"""Model outputs -> the JSON of a prediction, for /predict and for MLflow's /invocations.

Numbers are rounded to the decimals the export's parity check vouches for (its absolute tolerance): ONNX's
float32 sums give a forest's 0.88 as 0.87999904, which is the model's 0.88 within that tolerance. orjson
writes each float32 as its shortest text, and a number that is not finite (a float32 overflow on inputs far
outside the training data) as null.
"""

from __future__ import annotations

import math

import numpy as np
import orjson

from mlserve.manifest import Manifest


class Answers:
    """The response bodies of one model: its task's keys, its classes and its version."""

    def __init__(self, manifest: Manifest):
        self.classification = manifest.task == "classification"
        tolerance = manifest.tolerance.absolute  # 1e-5: 5 decimals; 0 vouches for every digit
        self.decimals = math.ceil(-math.log10(tolerance)) if tolerance > 0 else None
        self.closing: dict[str, object] = {"classes": manifest.classes} if self.classification else {}
        self.closing["model_version"] = manifest.model_version

    def numbers(self, values: np.ndarray) -> np.ndarray:
        if self.decimals is None:
            return values
        return np.round(values.astype(np.float64), self.decimals).astype(np.float32)

    def predictions(self, outputs: list[np.ndarray]) -> list | np.ndarray:
        """Labels (as the classes are: strings or integers), or numbers."""
        return outputs[0].ravel().tolist() if self.classification else self.numbers(outputs[0].ravel())

    def predict(self, outputs: list[np.ndarray]) -> bytes:
        """{prediction (one row only), predictions, [probabilities, classes,] model_version}."""
        predictions = self.predictions(outputs)
        body: dict = {"prediction": predictions[0]} if len(predictions) == 1 else {}
        body["predictions"] = predictions
        if self.classification:
            body["probabilities"] = self.numbers(outputs[1])
        return orjson.dumps({**body, **self.closing}, option=orjson.OPT_SERIALIZE_NUMPY)

    def mlflow(self, outputs: list[np.ndarray]) -> bytes:
        """MLflow's answer: the predictions only."""
        return orjson.dumps({"predictions": self.predictions(outputs)}, option=orjson.OPT_SERIALIZE_NUMPY)
