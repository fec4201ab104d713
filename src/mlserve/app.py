"""The prediction API: a Flask application factory serving the exported champion through onnxruntime.

Imports nothing from the training code. Every client mistake gets a JSON error with a 4xx status; a 500
means a bug in the server and never carries a traceback. MLflow's routes answer errors in MLflow's shape,
{error_code, message}, so its clients read them unchanged.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from importlib.util import find_spec
from pathlib import Path
from typing import Annotated

import msgspec
import orjson
from flask import Blueprint, Flask, Response, current_app, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from mlserve import bundle as bundles
from mlserve.answers import Answers
from mlserve.inputs import InputError, Inputs
from mlserve.manifest import encode
from mlserve.openapi import build_spec

log = logging.getLogger("mlserve")
api = Blueprint("api", __name__)
JSON = "application/json"
CSV = "text/csv"
PARQUET = "application/vnd.apache.parquet"
MLFLOW_ROUTES = frozenset({"/invocations", "/ping", "/version"})
# Swagger UI's files, found without importing flask_swagger_ui (its blueprint is not used: /docs is a route here).
SWAGGER_UI = Path(str(getattr(find_spec("flask_swagger_ui"), "origin", ""))).parent / "dist"
DOCS_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Prediction API</title>
<link rel="stylesheet" href="docs/assets/swagger-ui.css"></head><body><div id="swagger-ui"></div>
<script src="docs/assets/swagger-ui-bundle.js"></script><script>window.ui = SwaggerUIBundle({url: "openapi.json",
dom_id: "#swagger-ui", deepLinking: true, validatorUrl: null});</script></body></html>"""


class Settings(msgspec.Struct, forbid_unknown_fields=True):
    """The server's settings, from environment variables of the same names (README: Serving)."""

    MODEL_DIR: str = "models/serving"
    MAX_BODY_BYTES: Annotated[int, msgspec.Meta(ge=1)] = 16 * 1024 * 1024
    MAX_ROWS: Annotated[int, msgspec.Meta(ge=1)] = 10_000
    LOAD_IN_BACKGROUND: bool = False  # answer /health (and /ready with 503) while a large model loads


def settings_from_env(environ: Mapping[str, str] = os.environ) -> dict:
    given = {name: environ[name] for name in Settings.__struct_fields__ if name in environ}
    try:
        return msgspec.structs.asdict(msgspec.convert(given, Settings, strict=False))
    except msgspec.ValidationError as error:
        reason, _, where = str(error).partition(" - at `$.")
        name = where.rstrip("`")
        raise ValueError(f"environment variable {name}={environ.get(name)!r} is not valid: {reason}") from None


class Model:
    """The bundle, loaded once per process, with its model's request types and answers; by default a worker
    loads it before it accepts a single request, so no client ever meets a worker without a model."""

    def __init__(self, directory: Path, max_rows: int, max_body: int):
        self.directory, self.max_rows, self.max_body, self.loaded = directory, max_rows, max_body, threading.Event()
        self.bundle: bundles.Bundle | None = None
        self.error: str | None = None
        self.inputs: Inputs  # set with the bundle, as are the answers
        self.answers: Answers

    def load(self) -> None:
        try:
            bundle = bundles.load(self.directory)
            self.inputs, self.answers, self.bundle = Inputs(bundle.manifest), Answers(bundle.manifest), bundle
            log.info("serving %s version %s", bundle.manifest.model_name, bundle.manifest.model_version)
        except bundles.BundleError as error:
            self.error = str(error)
            log.error("cannot serve: %s", error)
        finally:
            self.loaded.set()

    def require(self) -> bundles.Bundle:
        if self.bundle is None:
            raise InputError(self.error or "the model is still loading", status=503)
        return self.bundle


def model() -> Model:
    return current_app.extensions["model"]


def json_response(body: object, status: int = 200, headers: dict | None = None) -> Response:
    return Response(orjson.dumps(body), status=status, mimetype=JSON, headers=headers)


def body_of(served: Model, *allowed: str, mlflow: bool = False) -> tuple[str, bytes]:
    """The request's media type, if one of `allowed` and UTF-8, and its body, within MAX_BODY_BYTES. On MLflow's
    route, as MLflow does, a Content-Type parameter other than charset is refused: MLflow 1's `format=` said
    how to read the body, and reading it otherwise would answer for other rows."""
    mimetype, options = request.mimetype, request.mimetype_params
    if mimetype not in allowed:
        unread = "; this server does not read Parquet: send the rows as JSON or CSV" if mimetype == PARQUET else ""
        raise InputError(f"Content-Type must be {' or '.join(allowed)}, got {mimetype or 'none'}{unread}", status=415)
    if mlflow and (unknown := sorted(set(options) - {"charset"})):
        raise InputError(f"unknown Content-Type parameters: {', '.join(unknown)} (only charset is read)", status=415)
    charset = options.get("charset", "utf-8").lower()
    if charset not in (("utf-8",) if mlflow else ("utf-8", "utf8")):
        raise InputError(f"the charset must be utf-8, got {charset}", status=415)
    environ = request.environ  # a server that ends the input itself (gunicorn) is read directly: 4% faster
    # gunicorn's Body asks its reader for 1 KB at a time, which copies back what is left of each 8 KB it
    # received (1.3 ms for a 10,000-row body); the reader itself takes the body in one pass (0.2 ms)
    stream = environ["wsgi.input"]
    source = stream.reader if hasattr(stream, "reader") else stream
    body = source.read(served.max_body + 1) if environ.get("wsgi.input_terminated") else request.get_data(cache=False)
    if len(body) > served.max_body:  # werkzeug's get_data ends a chunked body at MAX_CONTENT_LENGTH
        raise RequestEntityTooLarge()
    return mimetype, body


@api.get("/")
def index() -> Response:
    return Response(
        "The model server is running: POST records to /predict; the API is at /docs.\n", mimetype="text/plain"
    )


@api.get("/health")
def health() -> Response:
    return json_response({"status": "ok"})


@api.get("/ready")
def ready() -> Response:
    served = model()
    if served.bundle is None:
        return json_response({"status": "failed" if served.error else "loading", "error": served.error}, 503)
    return json_response({"status": "ready", "model_version": served.bundle.manifest.model_version})


@api.get("/metadata")
def metadata() -> Response:
    return json_response(encode(model().require().manifest))


@api.post("/predict")
def predict() -> Response:
    served = model()
    bundle, (_, body) = served.require(), body_of(served, JSON)
    outputs = bundle.predict(served.inputs.feeds_of(served.inputs.from_json(body), served.max_rows))
    return Response(served.answers.predict(outputs), mimetype=JSON)


@api.post("/invocations")
def invocations() -> Response:
    served = model()
    bundle, (mimetype, body) = served.require(), body_of(served, JSON, CSV, mlflow=True)
    rows = served.inputs.from_csv(body) if mimetype == CSV else served.inputs.from_mlflow(body)
    return Response(served.answers.mlflow(bundle.predict(served.inputs.feeds_of(rows, served.max_rows))), mimetype=JSON)


@api.get("/ping")
def ping() -> Response:
    model().require()
    return Response("\n", mimetype=JSON)


@api.get("/version")
def version() -> Response:
    """As `mlflow models serve` answers: an MLflow version, unquoted (MLflow's client reads it as text)."""
    return Response(model().require().manifest.mlflow_version, mimetype=JSON)


@api.get("/openapi.json")
def openapi() -> Response:
    served = model()
    return json_response(build_spec(served.require().manifest, served.inputs, served.max_rows))


@api.get("/docs")
def docs() -> Response:
    return Response(DOCS_PAGE, mimetype="text/html")


@api.app_errorhandler(InputError)
def input_error(error: InputError) -> Response:
    body = error.mlflow_body if request.path in MLFLOW_ROUTES else error.body
    return json_response(body, error.status, {"Retry-After": "1"} if error.status == 503 else None)


@api.app_errorhandler(HTTPException)
def http_error(error: HTTPException) -> Response:
    if error.code == 413:
        message = f"the body exceeds the limit of {model().max_body} bytes"
    else:
        message = f"{error.name}: {error.description}"
    response = input_error(InputError(message, status=error.code or 500))
    if error.code == 405:
        response.headers["Allow"] = error.get_response().headers["Allow"]
    return response


@api.app_errorhandler(Exception)
def unexpected(error: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.path)
    return input_error(InputError("internal server error", status=500))


def create_app(config: dict | None = None) -> Flask:
    app = Flask(__name__, static_folder=SWAGGER_UI, static_url_path="/docs/assets")
    app.config.update(settings_from_env(), **(config or {}))
    limit = app.config["MAX_BODY_BYTES"]
    app.config["MAX_CONTENT_LENGTH"] = limit + 1  # one byte more: see body_of()
    app.extensions["model"] = state = Model(Path(app.config["MODEL_DIR"]), app.config["MAX_ROWS"], limit)
    if app.config["LOAD_IN_BACKGROUND"]:
        threading.Thread(target=state.load, name="load-model", daemon=True).start()
    else:
        state.load()
    app.register_blueprint(api)
    return app
