"""The contract between training and serving: the bundle's manifest.json, defined once, here.

The export stage builds a `Manifest` and writes it with `encode`; the server reads it with `decode`,
which refuses unknown keys, missing keys and wrong types by name. `format_version` changes whenever the
structure does, so a server never misreads a bundle written for another.
"""

from __future__ import annotations

from typing import Literal

import msgspec

FORMAT_VERSION = 7
MANIFEST_FILE = "manifest.json"
RUN_FOLDER = "serving"  # where an exported version's MLflow run keeps the bundle, for the team setup's replicas


class ManifestError(ValueError):
    """manifest.json does not hold this structure; the message names the key."""


class _Strict(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    pass


class InputColumn(_Strict, frozen=True):
    """A column of the request, under the user's own name."""

    name: str
    type: Literal["number", "category"]
    nullable: bool
    categories: list[str] | None = None  # categories only
    minimum: float | None = None  # numbers only: the training data's range (informative; not enforced)
    maximum: float | None = None

    def __post_init__(self) -> None:
        if (self.type == "category") != (self.categories is not None):
            raise ValueError(f"input column {self.name!r}: categories are given for, and only for, a category column")


class Tolerance(_Strict, frozen=True):
    """An exported model and scikit-learn agree when |exported - sklearn| <= absolute + relative * |sklearn|."""

    absolute: float
    relative: float


class Parity(_Strict, frozen=True):
    """What the export checked: rows compared, and the largest difference of the numeric outputs."""

    rows: int
    max_difference: float
    labels_equal: bool | None = None  # classification only


class Pmml(_Strict, frozen=True):
    """The same model as PMML (`export.pmml`), for Java consumers: checked like the ONNX model, not served."""

    file: str
    sha256: str
    parity: Parity


class Manifest(_Strict, frozen=True):
    format_version: int
    task: Literal["classification", "regression"]
    model_name: str
    model_version: int  # the registry's version: its page leads to the run, its params and data md5s
    mlflow_version: str  # the MLflow that logged the version: /version answers it, as `mlflow models serve` does
    target: str
    inputs: list[InputColumn]
    feeds: list[str]  # the ONNX input of each column, in the order of `inputs` (`a/b` is ONNX's `a_b`); numbers float64
    outputs: list[str]  # the ONNX outputs: [label], [label, probabilities], [label, scores] or [predictions]
    model_file: str
    model_sha256: str
    onnx_opset: dict[str, int]
    tolerance: Tolerance
    parity: Parity
    classes: list[str | int] | None = None  # classification only, in the order of the probabilities
    # classification only: what the second output holds, scikit-learn's predict_proba or decision_function
    # (one score per row for two classes, one per class and row otherwise); absent for labels only
    class_scores: Literal["probabilities", "decision_function"] | None = None
    pmml: Pmml | None = None

    def __post_init__(self) -> None:
        if (self.task == "classification") != (self.classes is not None):
            raise ValueError("classes are given for, and only for, a classification model")
        if self.class_scores is not None and self.task != "classification":
            raise ValueError("class_scores are given for, and only for, a classification model")
        expected = 1 + (self.class_scores is not None)
        if len(self.outputs) != expected:
            raise ValueError(f"a {self.task} model has {expected} outputs, not {len(self.outputs)}")
        if len({column.name for column in self.inputs}) != len(self.inputs):
            raise ValueError("the input columns must have distinct names")
        if len(set(self.feeds)) != len(self.feeds) or len(self.feeds) != len(self.inputs):
            raise ValueError("the feeds must name one distinct ONNX input per input column")


def encode(manifest: Manifest) -> dict:
    """Plain data for a JSON file (the caller sorts keys and indents)."""
    return msgspec.to_builtins(manifest)


class _Version(msgspec.Struct):
    format_version: int | None = None


def decode(data: bytes) -> Manifest:
    """The format_version is read first: a bundle of another format is refused for that, not for its keys."""
    try:
        version = msgspec.json.decode(data, type=_Version).format_version
        if version != FORMAT_VERSION:
            found = "no format_version" if version is None else f"format_version {version}"
            raise ManifestError(f"{MANIFEST_FILE}: {found}, but this server reads {FORMAT_VERSION}: export it again")
        return msgspec.json.decode(data, type=Manifest)
    except msgspec.ValidationError as error:
        raise ManifestError(f"{MANIFEST_FILE}: {error}") from None
    except msgspec.DecodeError as error:
        raise ManifestError(f"{MANIFEST_FILE} is not valid JSON: {error}") from None
