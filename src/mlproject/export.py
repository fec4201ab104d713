"""Stage `export`: turn the registry's champion into the serving bundle in models/serving/.

The bundle is an ONNX model (loading it runs no code) and a JSON manifest that says what it is and how
to feed it. Before anything is written, the ONNX model must agree with the scikit-learn pipeline on the
whole test split: the same labels, probabilities within 1e-5. Otherwise the stage fails and the
previous bundle stays.
"""

from __future__ import annotations

import hashlib
import sys

import numpy as np
import onnxruntime
import pandas as pd
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType, StringTensorType
from sklearn.pipeline import Pipeline

from mlproject import config, files, stage
from mlproject.dataset import SCHEMA
from mlproject.features import model_input
from mlproject.onnx_graph import group_inputs, one_feed_per_column
from mlproject.register import quiet_mlflow
from mlproject.schema import DatasetSchema

PROBABILITY_TOLERANCE = 1e-5
TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}
MODEL_FILENAME = "model.onnx"


class ExportError(stage.StageError, RuntimeError):
    """The champion cannot be exported faithfully; the message says why."""


def convert(model: Pipeline, schema: DatasetSchema, group: bool = True) -> tuple[bytes, list[dict]]:
    """The ONNX model and its feeds ([{"name", "columns"}], in input order); outputs `label` and a plain
    `probabilities` matrix (no ZipMap).

    skl2onnx converts with one input per column ([N, 1] float for numbers, string for categories);
    `group` then regroups them into a numbers and a categories tensor where the graph allows.
    """
    inputs = [
        (name, FloatTensorType([None, 1]) if name in schema.numeric else StringTensorType([None, 1]))
        for name in schema.feature_names
    ]
    options = {id(model.steps[-1][1]): {"zipmap": False}}
    onnx_model = to_onnx(model, initial_types=inputs, options=options, target_opset=TARGET_OPSET)
    if group:
        feeds = group_inputs(onnx_model, list(schema.numeric), list(schema.categorical))
    else:
        feeds = one_feed_per_column(schema.feature_names)
    return onnx_model.SerializeToString(), feeds


def onnx_feeds(frame: pd.DataFrame, feeds: list[dict], schema: DatasetSchema) -> dict[str, np.ndarray]:
    features = model_input(frame, schema)
    return {
        feed["name"]: features[feed["columns"]].to_numpy(
            dtype=np.float32 if feed["columns"][0] in schema.numeric else object
        )
        for feed in feeds
    }


def parity(model: Pipeline, onnx_model: bytes, feeds: list[dict], test: pd.DataFrame, schema: DatasetSchema) -> dict:
    """Compare both models on every test row; raise ExportError naming the first disagreement."""
    session = onnxruntime.InferenceSession(onnx_model, providers=["CPUExecutionProvider"])
    onnx_labels, onnx_probabilities = session.run(["label", "probabilities"], onnx_feeds(test, feeds, schema))
    features = model_input(test, schema)
    labels, probabilities = model.predict(features), model.predict_proba(features)
    mismatched = np.flatnonzero(onnx_labels.astype(str) != labels.astype(str))
    if mismatched.size:
        row = int(mismatched[0])
        raise ExportError(
            f"ONNX and scikit-learn disagree on {mismatched.size} of {len(test)} test rows' labels "
            f"(first: row {row + 1}, {onnx_labels[row]!r} vs {labels[row]!r})"
        )
    difference = float(np.abs(onnx_probabilities - probabilities).max())
    if difference > PROBABILITY_TOLERANCE:
        raise ExportError(
            f"ONNX probabilities differ from scikit-learn's by up to {difference:.2e} on the test split "
            f"(tolerance {PROBABILITY_TOLERANCE:.0e})"
        )
    return {"rows": len(test), "labels_equal": True, "max_probability_difference": difference}


def manifest(
    version,
    git_commit: str,
    model: Pipeline,
    onnx_model: bytes,
    feeds: list[dict],
    checked: dict,
    schema: DatasetSchema,
) -> dict:
    return {
        "model_name": version.name,
        "model_version": int(version.version),
        "run_id": version.run_id,
        "git_commit": git_commit,
        "label": schema.label,
        "classes": [str(c) for c in model.classes_],
        "inputs": schema.describe(),
        "feeds": feeds,
        "model_file": MODEL_FILENAME,
        "model_sha256": hashlib.sha256(onnx_model).hexdigest(),
        "onnx_opset": TARGET_OPSET,
        "parity": checked,
    }


def champion(params: config.RegistryParams, schema: DatasetSchema):
    """The champion's model version, the commit it was trained at, and its scikit-learn pipeline."""
    import mlflow
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    quiet_mlflow()
    mlflow.set_tracking_uri(config.tracking_uri())
    client = MlflowClient()
    try:
        version = client.get_model_version_by_alias(params.model_name, params.champion_alias)
    except MlflowException:
        raise ExportError(
            f"model '{params.model_name}' has no '{params.champion_alias}' version yet: nothing passed the quality gate"
        ) from None
    git_commit = client.get_run(version.run_id).data.tags.get("git_commit", "unknown")
    model = mlflow.sklearn.load_model(f"models:/{params.model_name}/{version.version}")
    expected = list(model.feature_names_in_)
    if expected != schema.feature_names:
        raise ExportError(f"the champion expects columns {expected}, the schema declares {schema.feature_names}")
    return version, git_commit, model


def write_bundle() -> str:
    params = config.load_params()
    version, git_commit, model = champion(params.registry, SCHEMA)
    onnx_model, feeds = convert(model, SCHEMA)
    checked = parity(model, onnx_model, feeds, pd.read_csv(config.TEST_DATA), SCHEMA)
    files.write_bytes(config.SERVING_DIR / MODEL_FILENAME, onnx_model)  # the manifest last: it vouches for it
    files.write_json(
        config.SERVING_DIR / "manifest.json", manifest(version, git_commit, model, onnx_model, feeds, checked, SCHEMA)
    )
    difference = checked["max_probability_difference"]
    return (
        f"{version.name} version {version.version} -> {config.SERVING_DIR}/ "
        f"(parity on {checked['rows']} rows, max probability difference {difference:.1e})"
    )


def main() -> int:
    return stage.run("export", write_bundle)


if __name__ == "__main__":
    sys.exit(main())
