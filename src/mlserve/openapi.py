"""The OpenAPI 3.1 document of the API, built from the manifest so it always matches the model.

The records' and rows' schemas are msgspec's JSON Schema of the very types that validate requests; the
document describes exactly what is accepted, so every request it allows gets an answer.
"""

from __future__ import annotations

import re

import msgspec

from mlserve.inputs import Inputs
from mlserve.manifest import Manifest

ERRORS = {
    400: "Invalid input: malformed JSON, missing or unknown fields, wrong types, NaN, unknown categories",
    413: "Body larger than the size limit, or more rows than the batch limit",
    415: "Unsupported Content-Type or charset (UTF-8 only)",
    503: "The model is not loaded (yet)",
}
NUMBER = r"-?[0-9]{1,6}(?:\.[0-9]{1,6})?"  # a CSV cell of a number column, well inside float32's range
TEXT = {"content": {"text/plain": {"schema": {"type": "string"}}}}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict) -> dict:
    return {"content": {"application/json": {"schema": schema}}}


def _operation(summary: str, answer: dict, *errors: int, body: dict | None = None, error: str = "Error") -> dict:
    responses = {"200": {"description": "OK", **answer}}
    responses |= {str(code): {"description": ERRORS[code], **_json(_ref(error))} for code in errors}
    return {"summary": summary, "responses": responses, **({"requestBody": body} if body else {})}


def _answers(manifest: Manifest) -> tuple[dict, dict]:
    """The schemas of /predict's and /invocations' answers: labels typed as the classes are, or numbers."""
    if manifest.task == "classification":
        kinds = sorted({"integer" if isinstance(label, int) else "string" for label in manifest.classes or []})
        item: dict = {"type": kinds[0] if len(kinds) == 1 else kinds, "enum": manifest.classes}
        extra: dict[str, dict] = {"classes": {"type": "array", "items": item}}
        if manifest.class_scores == "probabilities":
            shares: dict = {"type": "array", "items": {"type": "number", "minimum": 0, "maximum": 1}}
            extra["probabilities"] = {"type": "array", "items": shares, "description": "per row, as `classes`"}
        elif manifest.class_scores == "decision_function":
            score: dict = {"type": ["number", "null"]}
            row = score if len(manifest.classes or []) == 2 else {"type": "array", "items": score}
            extra["scores"] = {"type": "array", "items": row, "description": "decision_function's, per row"}
    else:
        item = {"type": ["number", "null"], "description": "null where the model's answer overflows"}
        extra = {}
    predictions = {"predictions": {"type": "array", "items": item}}
    single = {"prediction": {**item, "description": "the one prediction, when the request held one row"}}
    properties = {**single, **predictions, **extra, "model_version": {"type": "integer"}}
    predict = {"type": "object", "required": [*predictions, *extra, "model_version"], "properties": properties}
    return predict, {"type": "object", "required": ["predictions"], "properties": predictions}


def csv_pattern(inputs: Inputs, max_rows: int) -> str:
    """The CSV texts /invocations accepts: the header in column order, then 1 to max_rows rows of values."""

    def text(value: str) -> str:  # as Python's csv module writes a cell
        return re.escape(f'"{value.replace(chr(34), chr(34) * 2)}"' if re.search('[,"\r\n]', value) else value)

    cells = []
    for column in inputs.columns:
        choices = [NUMBER] if column.type == "number" else [text(c) for c in column.categories or []]
        cells.append(f"(?:{'|'.join(choices + [''] * column.nullable)})")
    header = ",".join(text(name) for name in inputs.names)
    return rf"^{header}(?:\r?\n{','.join(cells)}){{1,{max_rows}}}\r?\n?$"


def build_spec(manifest: Manifest, inputs: Inputs, max_rows: int) -> dict:
    (_, row), schemas = msgspec.json.schema_components(
        [inputs.record, inputs.row], ref_template="#/components/schemas/{name}"
    )
    # /invocations drops the columns a model does not use, as MLflow does: its records take any others
    schemas["MlflowRecord"] = {key: value for key, value in schemas["Record"].items() if key != "additionalProperties"}
    batch = {"minItems": 1, "maxItems": max_rows}
    rows = {"type": "array", "items": {"oneOf": [_ref("Record"), _ref("Row")]}, **batch}
    mlflow_rows = {"type": "array", "items": {"oneOf": [_ref("MlflowRecord"), _ref("Row")]}, **batch}
    columnar = {
        "type": "object",
        "description": "One record in columns: each column a list of its one value (other columns are dropped)",
        "properties": {name: {"type": "array", "items": value, "minItems": 1, "maxItems": 1}
                       for name, value in zip(inputs.names, row["prefixItems"], strict=True)},
        "required": inputs.names,
        "additionalProperties": {"type": "array", "minItems": 1, "maxItems": 1},
    }  # fmt: skip
    split = {
        "type": "object",
        "description": "Without columns, each row holds the model's columns in order",
        "required": ["data"],
        "properties": {"columns": {"const": inputs.names}, "data": {"type": "array", "items": _ref("Row"), **batch},
                       "index": {"type": "array"}},
        "additionalProperties": False,
    }  # fmt: skip
    forms = {"dataframe_split": split, "dataframe_records": {"type": "array", "items": _ref("MlflowRecord"), **batch}}
    forms |= {
        key: {"oneOf": [_ref("MlflowRecord"), _ref("Row"), mlflow_rows, columnar]} for key in ("instances", "inputs")
    }
    params = {"type": ["object", "null"], "description": "Ignored: this model declares no params"}
    mlflow = {
        "description": "MLflow's scoring protocol: exactly one of the four keys, and optionally params.",
        "oneOf": [{"type": "object", "required": [key], "properties": {key: form, "params": params},
                   "additionalProperties": False} for key, form in forms.items()],
    }  # fmt: skip
    csv = {"schema": {"type": "string", "pattern": csv_pattern(inputs, max_rows)}}
    prediction, mlflow_prediction = _answers(manifest)
    nullable = {"integer": {"type": ["integer", "null"]}, "string": {"type": ["string", "null"]}}
    problem = {"row": nullable["integer"], "field": nullable["string"], "problem": {"type": "string"}}
    detail = {"type": "array", "items": {"type": "object", "properties": problem}}
    error = {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}, "detail": detail}}
    mlflow_error = {
        "type": "object",
        "required": ["error_code", "message"],
        "description": "MLflow's error shape",
        "properties": {"error_code": {"type": "string"}, "message": {"type": "string"}, "detail": detail},
    }
    status = {"type": "object", "required": ["status"], "properties": {
        "status": {"type": "string"}, "model_version": {"type": "integer"}, "error": nullable["string"]}}  # fmt: skip
    schemas |= {
        "Row": row,
        "Prediction": prediction,
        "MlflowPrediction": mlflow_prediction,
        "Status": status,
        "Error": error,
        "MlflowError": mlflow_error,
    }
    ready = _operation("Readiness: 200 once the model is loaded", _json(_ref("Status")))
    ready["responses"]["503"] = {"description": "Loading or failed", **_json(_ref("Status"))}
    paths = {
        "/": {"get": _operation("Says the service is running", TEXT)},
        "/health": {"get": _operation("Liveness", _json(_ref("Status")))},
        "/ready": {"get": ready},
        "/metadata": {"get": _operation("The bundle's manifest", _json({"type": "object"}), 503)},
        "/predict": {"post": _operation("Predict one record, a list of records, or positional rows",
                                        _json(_ref("Prediction")), 400, 413, 415, 503, body={"required": True,
                                        **_json({"oneOf": [_ref("Record"), _ref("Row"), rows]})})},
        "/invocations": {"post": _operation("MLflow's scoring protocol (JSON or CSV)", _json(_ref("MlflowPrediction")),
                                            400, 413, 415, 503, error="MlflowError", body={"required": True,
                                            "content": {"application/json": {"schema": mlflow}, "text/csv": csv}})},
        "/ping": {"get": _operation("MLflow's health check", {}, 503, error="MlflowError")},
        "/version": {"get": _operation("The MLflow version that logged the model, unquoted, as MLflow answers it",
                                       {"content": {"application/json": {}}}, 503, error="MlflowError")},
        "/openapi.json": {"get": _operation("This document", _json({"type": "object"}), 503)},
        "/docs": {"get": _operation("Interactive documentation of this document (Swagger UI)",
                                    {"content": {"text/html": {"schema": {"type": "string"}}}})},
    }  # fmt: skip
    info = {"title": f"{manifest.model_name} prediction API", "version": str(manifest.model_version),
            "description": "Serves the registry's champion model, exported to ONNX."}  # fmt: skip
    return {"openapi": "3.1.0", "info": info, "paths": paths, "components": {"schemas": schemas}}
