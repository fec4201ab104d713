"""The OpenAPI 3.1 document of the API, built from the bundle's manifest so it always matches the model."""

from __future__ import annotations

from mlserve.bundle import Bundle, Column
from mlserve.manifest import Manifest
from mlserve.records import FLOAT32_MAX


def _value_schema(column: Column) -> dict:
    if column.kind == "number":  # the model computes in float32
        schema: dict = {"type": ["number", "null"] if column.nullable else "number"}
        schema.update(minimum=-FLOAT32_MAX, maximum=FLOAT32_MAX)
    else:
        choices: list = sorted(column.categories) + ([None] if column.nullable else [])
        schema = {"enum": choices}
    return schema


def _answers(manifest: Manifest) -> tuple[dict, dict]:
    """The schemas of /predict's and /invocations' answers: labels typed as the classes are, or numbers."""
    if manifest.task == "classification":
        kinds = sorted({"integer" if isinstance(label, int) else "string" for label in manifest.classes})
        item: dict = {"type": kinds[0] if len(kinds) == 1 else kinds, "enum": manifest.classes}
        probabilities = {"type": "array", "items": {"type": "number", "minimum": 0, "maximum": 1}}
        extra = {
            "probabilities": {"type": "array", "items": probabilities},
            "classes": {"type": "array", "items": item},
        }
    else:
        description = "null where the model gives no finite number (inputs far outside the training data)"
        item, extra = {"type": ["number", "null"], "description": description}, {}
    predictions = {"predictions": {"type": "array", "items": item}}
    single = {"prediction": {**item, "description": "the one prediction, when the request held one row"}}
    predict = {
        "type": "object",
        "required": [*predictions, *extra, "model_version"],
        "properties": {**single, **predictions, **extra, "model_version": {"type": "integer"}},
    }
    return predict, {"type": "object", "required": ["predictions"], "properties": predictions}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json_body(schema: dict) -> dict:
    return {"content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict:
    meanings = {
        400: "Invalid input: malformed JSON, missing or unknown fields, wrong types, NaN, unknown categories",
        404: "No such path",
        405: "Method not allowed",
        413: "Body larger than the size limit, or more rows than the batch limit",
        415: "Unsupported Content-Type",
        503: "The model is not loaded (yet)",
    }
    return {str(code): {"description": meanings[code], **_json_body(_ref("Error"))} for code in codes}


def build_spec(bundle: Bundle, max_rows: int) -> dict:
    manifest = bundle.manifest
    columns = bundle.columns
    prediction, mlflow_prediction = _answers(manifest)
    names = [column.name for column in columns]
    record = {
        "type": "object",
        "properties": {column.name: _value_schema(column) for column in columns},
        "required": names,
        "additionalProperties": False,
    }
    row = {
        "type": "array",
        "prefixItems": [_value_schema(column) for column in columns],
        "items": False,
        "minItems": len(columns),
        "maxItems": len(columns),
        "description": f"Values in column order: {', '.join(names)}",
    }
    batch = {"minItems": 1, "maxItems": max_rows}
    predict_body = {"oneOf": [_ref("Record"), {"type": "array", "items": _ref("Record"), **batch},
                              _ref("Row"), {"type": "array", "items": _ref("Row"), **batch}]}  # fmt: skip
    mlflow_body = {
        "type": "object",
        "description": "MLflow's scoring protocol: exactly one of the four keys.",
        "oneOf": [
            {
                "required": ["dataframe_split"],
                "properties": {
                    "dataframe_split": {
                        "type": "object",
                        "required": ["columns", "data"],
                        "properties": {
                            "columns": {"type": "array", "items": {"enum": names}, "uniqueItems": True},
                            "data": {"type": "array", "items": {"type": "array"}, **batch},
                            "index": {"type": "array"},
                        },
                        "additionalProperties": False,
                    }
                },
                "additionalProperties": False,
            },
            {
                "required": ["dataframe_records"],
                "properties": {"dataframe_records": {"type": "array", "items": _ref("Record"), **batch}},
                "additionalProperties": False,
            },
            *(
                {
                    "required": [key],
                    "properties": {key: {"oneOf": [{"type": "array", **batch}, {"type": "object"}]}},
                    "additionalProperties": False,
                }
                for key in ("instances", "inputs")
            ),
        ],
    }
    text = {"content": {"text/plain": {"schema": {"type": "string"}}}}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"{manifest.model_name} prediction API",
            "version": str(manifest.model_version),
            "description": "Serves the registry's champion model, exported to ONNX.",
        },
        "paths": {
            "/": {
                "get": {
                    "summary": "Says the service is running",
                    "responses": {"200": {"description": "Running", **text}},
                }
            },
            "/health": {
                "get": {
                    "summary": "Liveness",
                    "responses": {"200": {"description": "Alive", **_json_body(_ref("Status"))}},
                }
            },
            "/ready": {
                "get": {
                    "summary": "Readiness: 200 once the model is loaded",
                    "responses": {
                        "200": {"description": "Ready", **_json_body(_ref("Status"))},
                        "503": {"description": "Loading or failed", **_json_body(_ref("Status"))},
                    },
                }
            },
            "/metadata": {
                "get": {
                    "summary": "The bundle's manifest",
                    "responses": {"200": {"description": "Manifest", **_json_body({"type": "object"})}, **_errors(503)},
                }
            },
            "/predict": {
                "post": {
                    "summary": "Predict one record, a list of records, or positional rows",
                    "requestBody": {"required": True, **_json_body(predict_body)},
                    "responses": {
                        "200": {"description": "Predictions", **_json_body(_ref("Prediction"))},
                        **_errors(400, 413, 415, 503),
                    },
                }
            },
            "/invocations": {
                "post": {
                    "summary": "MLflow scoring protocol (JSON or CSV)",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": mlflow_body},
                            "text/csv": {"schema": {"type": "string"}},
                        },
                    },
                    "responses": {
                        "200": {"description": "Predictions", **_json_body(_ref("MlflowPrediction"))},
                        **_errors(400, 413, 415, 503),
                    },
                }
            },
            "/ping": {
                "get": {
                    "summary": "MLflow health check",
                    "responses": {"200": {"description": "Ready"}, **_errors(503)},
                }
            },
            "/version": {
                "get": {
                    "summary": "Model name and version",
                    "responses": {"200": {"description": "Version", **text}, **_errors(503)},
                }
            },
            "/openapi.json": {
                "get": {
                    "summary": "This document",
                    "responses": {
                        "200": {"description": "OpenAPI document", **_json_body({"type": "object"})},
                        **_errors(503),
                    },
                }
            },
        },
        "components": {
            "schemas": {
                "Record": record,
                "Row": row,
                "Prediction": prediction,
                "MlflowPrediction": mlflow_prediction,
                "Status": {
                    "type": "object",
                    "required": ["status"],
                    "properties": {
                        "status": {"type": "string"},
                        "model_version": {"type": "integer"},
                        "error": {"type": ["string", "null"]},
                    },
                },
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {"type": "string"},
                        "detail": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "row": {"type": "integer"},
                                    "field": {"type": ["string", "null"]},
                                    "problem": {"type": "string"},
                                },
                            },
                        },
                        "detail_truncated": {"type": "integer"},
                    },
                },
            }
        },
    }
