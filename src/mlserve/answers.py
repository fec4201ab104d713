"""Model outputs -> the JSON of a prediction, for /predict and for MLflow's /invocations.

The export rounds the model's numbers inside its graph to the decimals its parity check vouches for, so a
forest's 0.88 reads 0.88 here, not 0.87999904. orjson writes each float32 as its shortest text, and a
number that is not finite (a float32 overflow on inputs far outside the training data) as null.
"""

from __future__ import annotations

import numpy as np
import orjson

from mlserve.manifest import Manifest


class Answers:
    """The response bodies of one model: its task's keys, its classes and its version."""

    def __init__(self, manifest: Manifest):
        self.classification = manifest.task == "classification"
        self.closing: dict[str, object] = {"classes": manifest.classes} if self.classification else {}
        self.closing["model_version"] = manifest.model_version

    def predictions(self, outputs: list[np.ndarray]) -> list | np.ndarray:
        """Labels (as the classes are: strings or integers), or numbers."""
        return outputs[0].ravel().tolist() if self.classification else outputs[0].ravel()

    def predict(self, outputs: list[np.ndarray]) -> bytes:
        """{prediction (one row only), predictions, [probabilities, classes,] model_version}."""
        predictions = self.predictions(outputs)
        body: dict = {"prediction": predictions[0]} if len(predictions) == 1 else {}
        body["predictions"] = predictions
        if self.classification:
            body["probabilities"] = outputs[1]
        return orjson.dumps({**body, **self.closing}, option=orjson.OPT_SERIALIZE_NUMPY)

    def mlflow(self, outputs: list[np.ndarray]) -> bytes:
        """MLflow's answer: the predictions only."""
        return orjson.dumps({"predictions": self.predictions(outputs)}, option=orjson.OPT_SERIALIZE_NUMPY)
