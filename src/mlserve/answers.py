"""Model outputs -> the JSON of a prediction, for /predict and for MLflow's /invocations.

The export rounds the model's numbers inside its graph to the decimals its parity check vouches for, so a
forest's 0.88 reads 0.88 here, not 0.87999904. orjson writes each number as its shortest text, and a
number that is not finite (an overflow on inputs far outside the training data) as null. A classifier
answers its probabilities, or its decision_function's scores if it has no probabilities, or labels only.
"""

from __future__ import annotations

import numpy as np
import orjson

from mlserve.manifest import Manifest


class Answers:
    """The response bodies of one model: its task's keys, its classes and its version."""

    def __init__(self, manifest: Manifest):
        self.classification = manifest.task == "classification"
        self.scores = {"probabilities": "probabilities", "decision_function": "scores"}.get(manifest.class_scores or "")
        self.one_score = manifest.class_scores == "decision_function" and len(manifest.classes or []) == 2
        self.closing: dict[str, object] = {"classes": manifest.classes} if self.classification else {}
        self.closing["model_version"] = manifest.model_version

    def predictions(self, outputs: list[np.ndarray]) -> list | np.ndarray:
        """Labels (as the classes are: strings or integers), or numbers."""
        return outputs[0].ravel().tolist() if self.classification else outputs[0].ravel()

    def predict(self, outputs: list[np.ndarray]) -> bytes:
        """{prediction (one row only), predictions, [probabilities or scores,] [classes,] model_version}."""
        predictions = self.predictions(outputs)
        body: dict = {"prediction": predictions[0]} if len(predictions) == 1 else {}
        body["predictions"] = predictions
        if self.scores:
            body[self.scores] = outputs[1].ravel() if self.one_score else outputs[1]
        return orjson.dumps({**body, **self.closing}, option=orjson.OPT_SERIALIZE_NUMPY)

    def mlflow(self, outputs: list[np.ndarray]) -> bytes:
        """MLflow's answer: the predictions only."""
        return orjson.dumps({"predictions": self.predictions(outputs)}, option=orjson.OPT_SERIALIZE_NUMPY)
