"""Stage `export`: turn the registry's champion (the version models/champion.json names) into the serving
bundle in models/serving/, also logged in the version's run for the team setup's replicas.

The bundle is an ONNX model (loading it runs no code) and its manifest (`mlserve.manifest`, the one
definition the server reads too). Before anything is written, the ONNX model must agree with the
scikit-learn pipeline on the whole test split: the same labels, and probabilities or predictions within
`export.tolerance` of params.yaml. Otherwise the stage fails and the previous bundle stays.
With `export.pmml: true` the bundle also holds the model as PMML (`mlproject.pmml`), checked the same way;
the server never reads it. Your own transformers are converted to ONNX with the converters features.py
gives them in ONNX_CONVERTERS.
"""

from __future__ import annotations

import hashlib
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from mlproject import config, files, pmml, stage
from mlproject.conversion import (
    TARGET_OPSET,
    ConversionError,
    Converted,
    agreement,
    class_scores_of,
    convert,
    parity,
    served_decimals,
)
from mlproject.dataset import SCHEMA
from mlproject.inputs import model_input, read_table
from mlproject.schema import CategoricalColumn, DatasetSchema
from mlproject.tracking import client, mlflow_errors, store_lock
from mlserve import manifest as contract

MODEL_FILENAME = "model.onnx"
PMML_FILENAME = "model.pmml"


def pmml_export(
    model: Pipeline, test: pd.DataFrame, schema: DatasetSchema, tolerance: config.Tolerance
) -> tuple[bytes, contract.Pmml]:
    """The PMML document (`export.pmml`), checked against scikit-learn on every test row like the ONNX model."""
    document, features = pmml.to_pmml(model, schema), model_input(test, schema)
    results = pmml.evaluate(document, features, schema, classes_of(model, schema.task) or [])
    checked = agreement("PMML", results, model, features, schema, tolerance, class_scores_of(model, schema.task))
    return document, contract.Pmml(file=PMML_FILENAME, sha256=hashlib.sha256(document).hexdigest(), parity=checked)


def classes_of(model: Pipeline, task: str) -> list | None:
    """A classifier's classes as plain values, in the order of its probabilities."""
    if task != "classification":
        return None
    return [c.item() if isinstance(c, np.generic) else c for c in model.classes_]


def input_columns(schema: DatasetSchema) -> list[contract.InputColumn]:
    return [
        contract.InputColumn(column.name, "category", column.nullable, categories=list(map(str, column.categories)))
        if isinstance(column, CategoricalColumn)
        else contract.InputColumn(
            column.name, "number", column.nullable, minimum=column.minimum, maximum=column.maximum
        )
        for column in schema.features
    ]


def build_manifest(
    model_name: str,
    version: int,
    model: Pipeline,
    converted: Converted,
    checked: contract.Parity,
    schema: DatasetSchema,
    tolerance: config.Tolerance,
    mlflow_version: str,
    pmml_entry: contract.Pmml | None = None,
) -> contract.Manifest:
    return contract.Manifest(
        format_version=contract.FORMAT_VERSION,
        task=schema.task,
        model_name=model_name,
        model_version=version,
        mlflow_version=mlflow_version,
        target=schema.label,
        classes=classes_of(model, schema.task),
        inputs=input_columns(schema),
        feeds=converted.feeds,
        outputs=converted.outputs,
        class_scores=converted.class_scores,
        model_file=MODEL_FILENAME,
        model_sha256=hashlib.sha256(converted.model).hexdigest(),
        onnx_opset=TARGET_OPSET,
        tolerance=contract.Tolerance(absolute=tolerance.absolute, relative=tolerance.relative),
        parity=checked,
        pmml=pmml_entry,
    )


def champion(registry: config.RegistryParams, schema: DatasetSchema) -> tuple[int, Pipeline, str]:
    """The version models/champion.json names (what DVC saw of the alias), its scikit-learn pipeline, and the
    MLflow version that logged it."""
    import mlflow

    version = files.read_json(config.CHAMPION_FILE).get("version")
    if version is None:
        raise ConversionError(
            f"model '{registry.model_name}' has no '{registry.champion_alias}' version yet: nothing passed the gate"
        )
    with store_lock(), mlflow_errors(f"loading version {version} of '{registry.model_name}'"):
        client()
        uri = f"models:/{registry.model_name}/{version}"
        model, logged_by = mlflow.sklearn.load_model(uri), mlflow.models.get_model_info(uri).mlflow_version
    expected = list(getattr(model, "feature_names_in_", []))
    if expected != schema.feature_names:
        raise ConversionError(f"the champion expects columns {expected}, the schema declares {schema.feature_names}")
    return int(version), model, logged_by


def publish(registry: config.RegistryParams, version: int, bundle: dict[str, bytes]) -> None:
    """Log the bundle in the version's run under `serving/`: replicas of the team setup fetch it from there
    (`mlserve.registry`), with no training code and nothing to unpickle."""
    with store_lock(), mlflow_errors(f"storing the serving bundle of version {version}"):
        mlflow_client = client()
        run_id = mlflow_client.get_model_version(registry.model_name, str(version)).run_id
        with tempfile.TemporaryDirectory(prefix="serving-") as staging:
            for name, data in bundle.items():
                Path(staging, name).write_bytes(data)
            mlflow_client.log_artifacts(run_id, staging, artifact_path=contract.RUN_FOLDER)


def write_bundle() -> str:
    params = config.load_params()
    SCHEMA.require_task(params.task)
    tolerance, test = params.export.tolerance, read_table(config.TEST_DATA, SCHEMA)
    version, model, mlflow_version = champion(params.registry, SCHEMA)
    converted = convert(model, SCHEMA, params.task, served_decimals(tolerance))
    checked = parity(model, converted, test, SCHEMA, tolerance)
    bundle = {MODEL_FILENAME: converted.model}
    pmml_entry = None
    if params.export.pmml:
        bundle[PMML_FILENAME], pmml_entry = pmml_export(model, test, SCHEMA, tolerance)
    manifest = build_manifest(
        params.registry.model_name, version, model, converted, checked, SCHEMA, tolerance, mlflow_version, pmml_entry
    )
    bundle[contract.MANIFEST_FILE] = files.json_bytes(contract.encode(manifest))
    publish(params.registry, version, bundle)
    files.write_directory(config.SERVING_DIR, bundle)  # exactly the bundle: no model.pmml of an earlier export
    pmml_parity = f"; PMML max difference {pmml_entry.parity.max_difference:.1e}" if pmml_entry else ""
    return (
        f"{params.registry.model_name} version {version} -> {config.SERVING_DIR}/ "
        f"(parity on {checked.rows} rows, max difference {checked.max_difference:.1e}{pmml_parity})"
    )


def main() -> int:
    return stage.run("export", write_bundle)


if __name__ == "__main__":
    sys.exit(main())
