"""Model outputs -> the JSON text of a prediction response.

Probabilities are rounded to 6 decimal places. Encoding them one Python float at a time costs more than
the model itself on a large batch, so from BATCH_ROWS rows on they are written by numpy as digits, all
rows at once; both ways give the same numbers.
"""

from __future__ import annotations

import json

import numpy as np

ENCODER = json.JSONEncoder(separators=(",", ":"))  # built once: json.dumps(..., **kw) builds one per call
BATCH_ROWS = 64
DECIMALS = 6
SCALE = 10**DECIMALS
POWERS = 10 ** np.arange(DECIMALS - 1, -1, -1)  # the place value of each decimal digit
DIGIT, POINT, COMMA, OPEN, CLOSE = (ord(c) for c in "0.,[]")


def prediction_json(labels: np.ndarray, probabilities: np.ndarray, classes: list, model_version: object) -> str:
    """The /predict response body; one encoder call for a small batch (each call has a fixed cost)."""
    if len(probabilities) < BATCH_ROWS:
        rounded = [[round(p * SCALE) / SCALE for p in row] for row in probabilities.tolist()]
        return ENCODER.encode(
            {
                "predictions": labels.tolist(),
                "probabilities": rounded,
                "classes": classes,
                "model_version": model_version,
            }
        )
    rest = ENCODER.encode({"classes": classes, "model_version": model_version})
    return (
        f'{{"predictions":{ENCODER.encode(labels.tolist())},'
        f'"probabilities":{probability_rows_json(probabilities)},{rest[1:]}'
    )


def probability_rows_json(probabilities: np.ndarray) -> str:
    """A JSON array of rows of probabilities, each rounded to DECIMALS places, without trailing zeros.

    Every number is laid out as 'W.DDDDDD' plus a separator in a byte matrix; a mask then drops the
    trailing zeros (keeping one digit after the point), and the rest is the text, in row order.
    """
    micros = np.rint(probabilities.astype(np.float64) * SCALE)
    if not (micros.min() >= 0 and micros.max() <= SCALE):  # also catches NaN
        raise ValueError("the model returned probabilities outside [0, 1]")
    whole, fraction = np.divmod(micros.astype(np.int64), SCALE)
    rows, width = fraction.shape
    text = np.empty((rows, width, DECIMALS + 3), np.uint8)
    keep = np.ones(text.shape, bool)
    text[..., 0] = whole + DIGIT
    text[..., 1] = POINT
    text[..., 2:-1] = fraction[..., None] // POWERS % 10 + DIGIT
    keep[..., 3:-1] = fraction[..., None] % (POWERS[1:] * 10) != 0  # a later digit is not zero
    text[..., -1] = COMMA
    text[:, -1, -1] = CLOSE
    lines = np.empty((rows, width * (DECIMALS + 3) + 2), np.uint8)
    kept = np.ones(lines.shape, bool)
    lines[:, 0], lines[:, -1] = OPEN, COMMA
    lines[:, 1:-1], kept[:, 1:-1] = text.reshape(rows, -1), keep.reshape(rows, -1)
    return "[" + lines[kept][:-1].tobytes().decode("ascii") + "]"
