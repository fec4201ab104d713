"""The prediction API: a Flask application factory serving the exported champion through onnxruntime.

Imports nothing from the training code. Every client mistake gets a JSON error with a 4xx status; a
500 means a bug in the server and never carries a traceback.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import numpy as np
from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from mlserve import bundle as bundles
from mlserve.manifest import encode
from mlserve.openapi import build_spec
from mlserve.records import InputError, parse_json, rows_from_csv, rows_from_mlflow, rows_of, to_feeds
from mlserve.responses import ENCODER, ClassificationJson, RegressionJson

log = logging.getLogger("mlserve")

ENV_SETTINGS = {  # environment variable -> (config key, type, default)
    "MODEL_DIR": ("MODEL_DIR", str, "models/serving"),
    "MAX_BODY_BYTES": ("MAX_BODY_BYTES", int, 16 * 1024 * 1024),
    "MAX_ROWS": ("MAX_ROWS", int, 10_000),
    "LOAD_IN_BACKGROUND": ("LOAD_IN_BACKGROUND", lambda raw: raw.strip().lower() in {"1", "true", "yes"}, False),
}
JSON = "application/json"


def settings_from_env(environ: os._Environ | dict = os.environ) -> dict:
    settings = {}
    for variable, (key, kind, default) in ENV_SETTINGS.items():
        raw = environ.get(variable)
        try:
            settings[key] = default if raw is None else kind(raw)
        except ValueError:
            raise ValueError(f"environment variable {variable}={raw!r} is not valid") from None
    return settings


class ModelState:
    """The bundle, loaded once per process; `/ready` answers 503 until it is.

    By default a worker loads it before it accepts a single request, so no client ever meets a worker
    without a model. LOAD_IN_BACKGROUND=1 answers /health (and /ready with 503) during a long load.
    """

    def __init__(self, directory: Path):
        self.directory = directory
        self.bundle: bundles.Bundle | None = None
        self.answer: ClassificationJson | RegressionJson | None = None  # writes the bodies of the model's task
        self.error: str | None = None
        self.loaded = threading.Event()

    def load(self) -> None:
        try:
            bundle = bundles.load(self.directory)
            manifest = bundle.manifest
            if manifest.task == "classification":
                self.answer = ClassificationJson(manifest.classes, manifest.model_version)
            else:
                self.answer = RegressionJson(manifest.model_version)
            self.bundle = bundle  # last: a request that finds the bundle finds everything
            log.info("serving %s version %s (%s)", manifest.model_name, manifest.model_version, manifest.task)
        except bundles.BundleError as error:
            self.error = str(error)
            log.error("cannot serve: %s", error)
        finally:
            self.loaded.set()

    def start(self, background: bool) -> None:
        if background:
            threading.Thread(target=self.load, name="load-model", daemon=True).start()
        else:
            self.load()

    def require(self) -> bundles.Bundle:
        if self.bundle is None:
            raise InputError(self.error or "the model is still loading", status=503)
        return self.bundle


def json_response(body: object, status: int = 200, headers: dict | None = None) -> Response:
    return Response(ENCODER.encode(body), status=status, mimetype=JSON, headers=headers)


def require_mimetype(environ: dict, *allowed: str) -> str:
    """The request's media type, if it is one of `allowed` (parameters such as charset are ignored)."""
    mimetype = environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower()
    if mimetype not in allowed:
        raise InputError(f"Content-Type must be {' or '.join(allowed)}, got {mimetype or 'none'}", status=415)
    return mimetype


def create_app(config: dict | None = None) -> Flask:
    app = Flask(__name__)
    app.config.update(settings_from_env())
    app.config.update(config or {})
    state = ModelState(Path(app.config["MODEL_DIR"]))
    app.extensions["model"] = state
    state.start(background=app.config["LOAD_IN_BACKGROUND"])
    max_rows, max_bytes = app.config["MAX_ROWS"], app.config["MAX_BODY_BYTES"]

    def read_body(environ: dict) -> bytes:
        """The body, refused with 413 past the limit, declared or not (chunked bodies have no length).

        A server that ends the input stream itself (gunicorn says so with wsgi.input_terminated) is read
        directly; any other gets werkzeug's stream, which stops at the declared length.
        """
        declared = environ.get("CONTENT_LENGTH", "")
        if declared.isdigit() and int(declared) > max_bytes:
            raise InputError(f"the body's {declared} bytes exceed the limit of {max_bytes}", status=413)
        stream = environ["wsgi.input"] if environ.get("wsgi.input_terminated") else request.stream
        body = stream.read(max_bytes + 1)
        if len(body) > max_bytes:
            raise InputError(f"the body exceeds the limit of {max_bytes} bytes", status=413)
        return body

    def predict(rows: list) -> list[np.ndarray]:
        model = state.require()
        return model.predict(to_feeds(rows, model.schema, max_rows))

    @app.get("/")
    def index():
        return Response(
            "The model server is running. POST records to /predict; the API is described at /openapi.json.\n",
            mimetype="text/plain",
        )

    @app.get("/health")
    def health():
        return json_response({"status": "ok"})

    @app.get("/ready")
    def ready():
        if state.bundle is None:
            status = "failed" if state.error else "loading"
            return json_response({"status": status, "error": state.error}, 503)
        return json_response({"status": "ready", "model_version": state.bundle.manifest.model_version})

    @app.get("/metadata")
    def metadata():
        return json_response(encode(state.require().manifest))

    @app.post("/predict")
    def predict_endpoint():
        environ = request.environ
        require_mimetype(environ, JSON)
        outputs = predict(rows_of(parse_json(read_body(environ))))
        return Response(state.answer(*outputs), mimetype=JSON)

    @app.post("/invocations")
    def invocations():
        environ = request.environ
        mimetype = require_mimetype(environ, JSON, "text/csv")
        columns = state.require().columns
        body = read_body(environ)
        if mimetype == "text/csv":
            try:
                rows = rows_from_csv(body.decode("utf-8"), columns)
            except UnicodeDecodeError:
                raise InputError("malformed CSV: the body is not UTF-8 text") from None
        else:
            rows = rows_from_mlflow(parse_json(body, nan_is_missing=True))
        outputs = predict(rows)
        return Response(state.answer.mlflow(*outputs), mimetype=JSON)

    @app.get("/ping")
    def ping():
        state.require()
        return Response("\n", mimetype="application/json")

    @app.get("/version")
    def version():
        manifest = state.require().manifest
        return Response(f"{manifest.model_name}/{manifest.model_version}\n", mimetype="text/plain")

    @app.get("/openapi.json")
    def openapi():
        return json_response(build_spec(state.require(), max_rows))

    @app.errorhandler(InputError)
    def input_error(error: InputError):
        headers = {"Retry-After": "1"} if error.status == 503 else None
        return json_response(error.body(), error.status, headers)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        response = error.get_response()
        headers = {k: v for k, v in response.headers.items() if k in ("Allow",)}
        return json_response({"error": f"{error.name}: {error.description}"}, error.code or 500, headers)

    @app.errorhandler(Exception)
    def unexpected(error: Exception):
        log.exception("unexpected error on %s %s", request.method, request.path)
        return json_response({"error": "internal server error"}, 500)

    return app
