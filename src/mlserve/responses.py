"""Model outputs -> the JSON text of a prediction response, for /predict and for /invocations.

Probabilities are rounded to 6 decimal places. Encoding them one Python float at a time costs more than
the model itself on a large batch, so from BATCH_ROWS rows on they are written by numpy as digits, all
rows at once; both ways give the same numbers. A regression's float32 predictions are written as the
shortest decimals that read back as the same float32: the number the model computed, without the
float64 noise of a conversion (151.23346, not 151.23345947265625).
"""

from __future__ import annotations

import json

import numpy as np

ENCODER = json.JSONEncoder(separators=(",", ":"))  # built once: json.dumps(..., **kw) builds one per call
BATCH_ROWS = 64
DECIMALS = 6
SCALE = 10**DECIMALS
COMMA, OPEN, CLOSE = (ord(c) for c in ",[]")


def _byte_words(data: list[bytes], offset: int) -> np.ndarray:
    """Each string's bytes as one little-endian 64-bit word, starting at byte `offset`."""
    padded = np.zeros((len(data), 8), np.uint8)
    for row, item in enumerate(data):
        padded[row, offset : offset + len(item)] = list(item)
    return padded.view("<u8").ravel()


# The six decimals are written as two groups of three, each looked up in a table of 1,000 words: the digits
# at their place in "W.DDDDDD", and a mask of the digits to keep (up to the last that is not zero).
_TRIPLES = [f"{i:03d}" for i in range(1000)]
HIGH_DIGITS = _byte_words([t.encode() for t in _TRIPLES], 2)
LOW_DIGITS = _byte_words([t.encode() for t in _TRIPLES], 5)
HIGH_KEPT = _byte_words([b"\1" * max(len(t.rstrip("0")), 1) for t in _TRIPLES], 2)
LOW_KEPT = _byte_words([b"\1" * len(t.rstrip("0")) for t in _TRIPLES], 5)
ALL_HIGH_KEPT = HIGH_KEPT[111]  # 111 keeps all three
LEAD = _byte_words([b"0."], 0)[0]
LEAD_KEPT = _byte_words([b"\1\1"], 0)[0]


class ClassificationJson:
    """Writes the response bodies of one classifier: its labels and the closing keys encoded once.

    A call of the json encoder has a fixed cost several times that of the text of a one-row answer, so
    the body is put together from strings: labels looked up, probabilities written by repr() (the same
    digits the encoder writes) or, from BATCH_ROWS rows on, by probability_rows_json.
    """

    def __init__(self, classes: list, model_version: object):
        self.labels = _EncodedLabels({label: ENCODER.encode(label) for label in classes})
        self.closing = ENCODER.encode({"classes": classes, "model_version": model_version})[1:]

    def __call__(self, labels: np.ndarray, probabilities: np.ndarray) -> str:
        predictions = ",".join(map(self.labels.__getitem__, labels.tolist()))
        if len(probabilities) < BATCH_ROWS:
            rows = [",".join([repr(round(p * SCALE) / SCALE) for p in row]) for row in probabilities.tolist()]
            rows_json = f"[[{'],['.join(rows)}]]"
        else:
            rows_json = probability_rows_json(probabilities)
        single = f'"prediction":{predictions},' if len(labels) == 1 else ""  # for clients that read one answer
        return f'{{{single}"predictions":[{predictions}],"probabilities":{rows_json},{self.closing}'

    def mlflow(self, labels: np.ndarray, probabilities: np.ndarray) -> str:
        """MLflow's answer: the labels only."""
        return f'{{"predictions":[{",".join(map(self.labels.__getitem__, labels.tolist()))}]}}'


class RegressionJson:
    """Writes the response bodies of one regression model: its predictions, and the model version."""

    def __init__(self, model_version: object):
        self.closing = ENCODER.encode({"model_version": model_version})[1:]

    def __call__(self, predictions: np.ndarray) -> str:
        numbers = numbers_json(predictions)
        single = f'"prediction":{numbers[1:-1]},' if predictions.size == 1 else ""  # for clients that read one answer
        return f'{{{single}"predictions":{numbers},{self.closing}'

    def mlflow(self, predictions: np.ndarray) -> str:
        return f'{{"predictions":{numbers_json(predictions)}}}'


class _EncodedLabels(dict):
    """label -> its JSON text; a label the manifest did not list is encoded when it is met."""

    def __missing__(self, label: object) -> str:
        return ENCODER.encode(label)


def probability_rows_json(probabilities: np.ndarray) -> str:
    """A JSON array of rows of probabilities, each rounded to DECIMALS places, without trailing zeros.

    Each row is laid out as one record of bytes: '[', then per number 'W.DDDDDD' (one 64-bit word) and a
    separator, then ','. A second record of the same layout marks the bytes to keep, which drops the
    trailing zeros (keeping one digit after the point); the kept bytes are the text.
    """
    micros = np.rint(probabilities.astype(np.float64) * SCALE)
    if not (micros.min() >= 0 and micros.max() <= SCALE):  # also catches NaN
        raise ValueError("the model returned probabilities outside [0, 1]")
    whole = micros == SCALE  # only a probability of 1 has a whole part
    fraction = micros - whole * SCALE
    high = np.floor(fraction / 1000)  # exact for whole numbers below a million, and faster than // on integers
    low = (fraction - high * 1000).astype(np.intp)
    high = high.astype(np.intp)
    rows, width = fraction.shape
    number = [("digits", "<u8"), ("separator", "u1")]
    layout = np.dtype([("open", "u1"), ("numbers", number, (width,)), ("close", "u1")])
    lines, kept = np.empty(rows, layout), np.empty(rows, layout)
    lines["open"], lines["close"] = OPEN, COMMA
    lines["numbers"]["digits"] = LEAD + whole.astype(np.uint64) + HIGH_DIGITS[high] + LOW_DIGITS[low]
    lines["numbers"]["separator"] = COMMA
    lines["numbers"]["separator"][:, -1] = CLOSE
    kept["open"], kept["close"], kept["numbers"]["separator"] = 1, 1, 1
    kept["numbers"]["digits"] = LEAD_KEPT + np.where(low > 0, ALL_HIGH_KEPT, HIGH_KEPT[high]) + LOW_KEPT[low]
    text = lines.view(np.uint8)[kept.view(np.bool_)]
    return "[" + text[:-1].tobytes().decode("ascii") + "]"


def numbers_json(values: np.ndarray) -> str:
    """float32 values as a JSON array of the shortest decimals that read back as the same float32.

    numpy's conversion to text writes those digits; a value that is not finite (the float32 range
    overflowed on inputs far outside the training data) has no JSON number and is written as null.
    """
    values = values.ravel()
    texts = values.astype(str)
    finite = np.isfinite(values)
    if not finite.all():
        texts[~finite] = "null"
    return f"[{','.join(texts.tolist())}]"
