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
import math
import re
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pandas as pd
from skl2onnx import to_onnx, update_registered_converter
from skl2onnx.common.data_types import FloatTensorType, StringTensorType
from skl2onnx.common.exceptions import MissingConverter, MissingShapeCalculator
from sklearn.pipeline import Pipeline

from mlproject import config, features, files, pmml, stage
from mlproject.dataset import SCHEMA
from mlproject.inputs import model_input
from mlproject.schema import CategoricalColumn, DatasetSchema
from mlproject.tracking import client, mlflow_errors, store_lock
from mlserve import manifest as contract

TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}
MODEL_FILENAME = "model.onnx"
PMML_FILENAME = "model.pmml"
REGRESSION_OUTPUT = "predictions"


class ExportError(stage.StageError, RuntimeError):
    """The champion cannot be exported faithfully; the message says why."""


def register_converters() -> None:
    for cls, (shape_calculator, converter) in features.ONNX_CONVERTERS.items():
        update_registered_converter(cls, f"mlproject_{cls.__name__}", shape_calculator, converter)


def to_onnx_model(model: Pipeline, schema: DatasetSchema, task: str) -> onnx.ModelProto:
    """skl2onnx's graph: one [N, 1] input per column, plain outputs (no ZipMap); its failures in one line."""
    register_converters()
    inputs = [
        (name, FloatTensorType([None, 1]) if name in schema.numeric else StringTensorType([None, 1]))
        for name in schema.feature_names
    ]
    if task == "classification":
        options, final_types = {id(model.steps[-1][1]): {"zipmap": False}}, None
    else:
        options, final_types = {}, [(REGRESSION_OUTPUT, FloatTensorType([None, 1]))]
    try:
        return to_onnx(model, initial_types=inputs, options=options, target_opset=TARGET_OPSET, final_types=final_types)
    except (MissingShapeCalculator, MissingConverter) as error:
        named = re.search(r"<class '([^']+)'>", str(error))
        what = named.group(1) if named else "a step of the model"
        raise ExportError(
            f"{what} has no ONNX converter: give it a shape calculator and a converter in ONNX_CONVERTERS "
            "of src/mlproject/features.py (README: Custom transformers)"
        ) from None
    except Exception as error:  # noqa: BLE001 - skl2onnx raises many types for what it cannot convert
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ExportError(f"skl2onnx cannot convert the model: {first}") from None


def convert(
    model: Pipeline, schema: DatasetSchema, task: str, decimals: int | None = None
) -> tuple[bytes, list[str], list[str]]:
    """The ONNX model, its feeds (one input per column, under ONNX's name) and its outputs; with `decimals`,
    its probabilities or predictions are rounded to that many (`served_decimals`).

    skl2onnx renames columns that are not valid ONNX names (`a/b` -> `a_b`); the feeds keep the user's
    names. (Regrouping the inputs into one numbers and one categories tensor was measured: 1% more
    single-row throughput, not worth its graph surgery.)
    """
    onnx_model = to_onnx_model(model, schema, task)
    graph = onnx_model.graph
    if decimals is not None:
        round_output(graph, graph.output[-1].name, decimals)
    feeds = [value.name for value in graph.input]
    # skl2onnx's order of the opsets is not the same in every process (a fresh clone's export differed in
    # that alone): sorted, the same model gives the same bytes.
    opsets = sorted(onnx_model.opset_import, key=lambda opset: opset.domain)
    del onnx_model.opset_import[:]
    onnx_model.opset_import.extend(opsets)
    return onnx_model.SerializeToString(), feeds, [output.name for output in graph.output]


def served_decimals(tolerance: config.Tolerance) -> int | None:
    """The decimals the parity check vouches for: 5 for an absolute tolerance of 1e-5 (None for 0: every digit)."""
    return math.ceil(-math.log10(tolerance.absolute)) if tolerance.absolute > 0 else None


def round_output(graph: onnx.GraphProto, output: str, decimals: int) -> None:
    """Round an output inside the graph, so the server writes the numbers the parity check compared: a
    forest's float32 sum 0.87999904 becomes 0.88. Rounded in float64, where no float32 value overflows."""
    steps = ("unrounded", "scale", "double", "scaled", "whole", "back")
    unrounded, scale, double, scaled, whole, back = (f"{output}_{step}" for step in steps)
    for node in graph.node:
        for at, name in enumerate(node.output):
            if name == output:
                node.output[at] = unrounded
    graph.initializer.append(onnx.helper.make_tensor(scale, onnx.TensorProto.DOUBLE, [], [10.0**decimals]))
    graph.node.extend([
        onnx.helper.make_node("Cast", [unrounded], [double], to=onnx.TensorProto.DOUBLE),
        onnx.helper.make_node("Mul", [double, scale], [scaled]),
        onnx.helper.make_node("Round", [scaled], [whole]),
        onnx.helper.make_node("Div", [whole, scale], [back]),
        onnx.helper.make_node("Cast", [back], [output], to=onnx.TensorProto.FLOAT),
    ])  # fmt: skip


def onnx_feeds(inputs: pd.DataFrame, feeds: list[str], schema: DatasetSchema) -> dict[str, np.ndarray]:
    """The ONNX model's inputs from the model's input columns (`inputs.model_input`), one [N, 1] array each."""
    return {
        feed: inputs[[column]].to_numpy(dtype=np.float32 if column in schema.numeric else object)
        for feed, column in zip(feeds, schema.feature_names, strict=True)
    }


def _largest_difference(onnx_values: np.ndarray, sklearn_values: np.ndarray, tolerance: config.Tolerance) -> tuple:
    """The largest absolute difference, and the first row beyond the tolerance (None if there is none)."""
    difference = np.abs(onnx_values.astype(np.float64) - sklearn_values)
    allowed = tolerance.absolute + tolerance.relative * np.abs(sklearn_values)
    beyond = np.flatnonzero((~(difference <= allowed)).reshape(len(difference), -1).any(axis=1))  # NaN is beyond
    return float(np.nan_to_num(difference, nan=np.inf).max(initial=0.0)), (int(beyond[0]) if beyond.size else None)


def parity(
    model: Pipeline,
    onnx_model: bytes,
    feeds: list[str],
    outputs: list[str],
    test: pd.DataFrame,
    schema: DatasetSchema,
    tolerance: config.Tolerance,
) -> contract.Parity:
    """Compare the ONNX model with scikit-learn on every test row; raise ExportError naming the first disagreement."""
    session = onnxruntime.InferenceSession(onnx_model, providers=["CPUExecutionProvider"])
    features = model_input(test, schema)
    return agreement(
        "ONNX", session.run(outputs, onnx_feeds(features, feeds, schema)), model, features, schema, tolerance
    )


def agreement(
    kind: str,
    results: list[np.ndarray],
    model: Pipeline,
    features: pd.DataFrame,
    schema: DatasetSchema,
    tolerance: config.Tolerance,
) -> contract.Parity:
    """An exported model's outputs ([labels, probabilities] or [predictions]) against scikit-learn's."""
    bound = f"tolerance {tolerance.absolute:.0e} + {tolerance.relative:.0e} x |value|"
    if schema.task == "regression":
        predicted = model.predict(features).astype(np.float64)
        largest, row = _largest_difference(results[0].reshape(predicted.shape), predicted, tolerance)
        if row is not None:
            raise ExportError(
                f"{kind} predictions differ from scikit-learn's by up to {largest:.2e} ({bound}; first: row {row + 1})"
            )
        return contract.Parity(rows=len(features), max_difference=largest)
    exported_labels, exported_probabilities = results
    labels, probabilities = model.predict(features), model.predict_proba(features)
    mismatched = np.flatnonzero(exported_labels.astype(str) != labels.astype(str))
    if mismatched.size:
        row = int(mismatched[0])
        raise ExportError(
            f"{kind} and scikit-learn disagree on {mismatched.size} of {len(features)} test rows' labels "
            f"(first: row {row + 1}, {exported_labels[row]!r} vs {labels[row]!r})"
        )
    largest, row = _largest_difference(exported_probabilities, probabilities, tolerance)
    if row is not None:
        raise ExportError(
            f"{kind} probabilities differ from scikit-learn's by up to {largest:.2e} on the test split ({bound})"
        )
    return contract.Parity(rows=len(features), max_difference=largest, labels_equal=True)


def pmml_export(
    model: Pipeline, test: pd.DataFrame, schema: DatasetSchema, tolerance: config.Tolerance
) -> tuple[bytes, contract.Pmml]:
    """The PMML document (`export.pmml`), checked against scikit-learn on every test row like the ONNX model."""
    document, features = pmml.to_pmml(model, schema), model_input(test, schema)
    results = pmml.evaluate(document, features, schema, classes_of(model, schema.task) or [])
    checked = agreement("PMML", results, model, features, schema, tolerance)
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
    converted: tuple[bytes, list[str], list[str]],
    checked: contract.Parity,
    schema: DatasetSchema,
    tolerance: config.Tolerance,
    pmml_entry: contract.Pmml | None = None,
) -> contract.Manifest:
    onnx_model, feeds, outputs = converted
    return contract.Manifest(
        format_version=contract.FORMAT_VERSION,
        task=schema.task,
        model_name=model_name,
        model_version=version,
        target=schema.label,
        classes=classes_of(model, schema.task),
        inputs=input_columns(schema),
        feeds=feeds,
        outputs=outputs,
        model_file=MODEL_FILENAME,
        model_sha256=hashlib.sha256(onnx_model).hexdigest(),
        onnx_opset=TARGET_OPSET,
        tolerance=contract.Tolerance(absolute=tolerance.absolute, relative=tolerance.relative),
        parity=checked,
        pmml=pmml_entry,
    )


def champion(registry: config.RegistryParams, schema: DatasetSchema) -> tuple[int, Pipeline]:
    """The version models/champion.json names (what DVC saw of the alias), and its scikit-learn pipeline."""
    import mlflow

    version = files.read_json(config.CHAMPION_FILE).get("version")
    if version is None:
        raise ExportError(
            f"model '{registry.model_name}' has no '{registry.champion_alias}' version yet: nothing passed the gate"
        )
    with store_lock(), mlflow_errors(f"loading version {version} of '{registry.model_name}'"):
        client()
        model = mlflow.sklearn.load_model(f"models:/{registry.model_name}/{version}")
    expected = list(getattr(model, "feature_names_in_", []))
    if expected != schema.feature_names:
        raise ExportError(f"the champion expects columns {expected}, the schema declares {schema.feature_names}")
    return int(version), model


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
    tolerance, test = params.export.tolerance, pd.read_csv(config.TEST_DATA)
    version, model = champion(params.registry, SCHEMA)
    converted = convert(model, SCHEMA, params.task, served_decimals(tolerance))
    checked = parity(model, *converted, test, SCHEMA, tolerance)
    bundle = {MODEL_FILENAME: converted[0]}
    pmml_entry = None
    if params.export.pmml:
        bundle[PMML_FILENAME], pmml_entry = pmml_export(model, test, SCHEMA, tolerance)
    manifest = build_manifest(
        params.registry.model_name, version, model, converted, checked, SCHEMA, tolerance, pmml_entry
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
