"""The prediction API: a Flask application factory serving the exported champion through onnxruntime.

Imports nothing from the training code. Every client mistake gets a JSON error with a 4xx status; a
500 means a bug in the server and never carries a traceback.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from importlib.util import find_spec
from pathlib import Path

import orjson
from flask import Blueprint, Flask, Response, current_app, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from mlserve import bundle as bundles
from mlserve.answers import Answers
from mlserve.inputs import InputError, Inputs, parse_json
from mlserve.manifest import encode
from mlserve.openapi import build_spec

log = logging.getLogger("mlserve")
api = Blueprint("api", __name__)
JSON = "application/json"
SWAGGER_UI = Path(find_spec("flask_swagger_ui").origin or "").parent / "dist"  # type: ignore[union-attr]
DOCS_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Prediction API</title>
<link rel="stylesheet" href="docs/assets/swagger-ui.css"></head><body><div id="swagger-ui"></div>
<script src="docs/assets/swagger-ui-bundle.js"></script><script>window.ui = SwaggerUIBundle({url: "openapi.json",
dom_id: "#swagger-ui", deepLinking: true, validatorUrl: null});</script></body></html>"""


def _flag(raw: str) -> bool:
    return raw.strip().lower() in {"1", "true", "yes"}


SETTINGS = {  # environment variable (and config key) -> (type, default)
    "MODEL_DIR": (str, "models/serving"),
    "MAX_BODY_BYTES": (int, 16 * 1024 * 1024),
    "MAX_ROWS": (int, 10_000),
    "LOAD_IN_BACKGROUND": (_flag, False),
}


def settings_from_env(environ: Mapping[str, str] = os.environ) -> dict:
    settings = {}
    for name, (kind, default) in SETTINGS.items():
        raw = environ.get(name)
        try:
            settings[name] = default if raw is None else kind(raw)  # type: ignore[operator]
        except ValueError:
            raise ValueError(f"environment variable {name}={raw!r} is not valid") from None
    return settings


class Model:
    """The bundle, loaded once per process, with the request types and answer writer of its model.

    By default a worker loads it before it accepts a single request, so no client ever meets a worker
    without a model. LOAD_IN_BACKGROUND=1 answers /health (and /ready with 503) during a long load.
    """

    def __init__(self, directory: Path):
        self.directory = directory
        self.bundle: bundles.Bundle | None = None
        self.inputs: Inputs
        self.answers: Answers
        self.error: str | None = None
        self.loaded = threading.Event()

    def load(self) -> None:
        try:
            bundle = bundles.load(self.directory)
            self.inputs, self.answers = Inputs(bundle.manifest), Answers(bundle.manifest)
            self.bundle = bundle  # last: a request that finds the bundle finds everything
            manifest = bundle.manifest
            log.info("serving %s version %s (%s)", manifest.model_name, manifest.model_version, manifest.task)
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


def body_of(*allowed: str) -> tuple[str, bytes]:
    """The request's media type, if `allowed` (and UTF-8), and its body, within MAX_CONTENT_LENGTH."""
    mimetype, charset = request.mimetype, request.mimetype_params.get("charset", "utf-8").lower()
    if mimetype not in allowed:
        raise InputError(f"Content-Type must be {' or '.join(allowed)}, got {mimetype or 'none'}", status=415)
    if charset not in ("utf-8", "utf8"):
        raise InputError(f"the charset must be utf-8, got {charset}", status=415)
    body, limit = request.get_data(cache=False), current_app.config["MAX_BODY_BYTES"]
    if len(body) > limit:  # a chunked body: werkzeug stops reading at MAX_CONTENT_LENGTH, one byte past the limit
        raise RequestEntityTooLarge()
    return mimetype, body


@api.get("/")
def index() -> Response:
    text = "The model server is running. POST records to /predict; the API is described at /docs.\n"
    return Response(text, mimetype="text/plain")


@api.get("/health")
def health() -> Response:
    return json_response({"status": "ok"})


@api.get("/ready")
def ready() -> Response:
    bundle = model().bundle
    if bundle is None:
        return json_response({"status": "failed" if model().error else "loading", "error": model().error}, 503)
    return json_response({"status": "ready", "model_version": bundle.manifest.model_version})


@api.get("/metadata")
def metadata() -> Response:
    return json_response(encode(model().require().manifest))


@api.post("/predict")
def predict() -> Response:
    served = model()
    bundle = served.require()
    rows = served.inputs.from_json(body_of(JSON)[1])
    outputs = bundle.predict(served.inputs.feeds_of(rows, current_app.config["MAX_ROWS"]))
    return Response(served.answers.predict(outputs), mimetype=JSON)


@api.post("/invocations")
def invocations() -> Response:
    served = model()
    bundle = served.require()
    mimetype, body = body_of(JSON, "text/csv")
    rows = served.inputs.from_csv(body) if mimetype == "text/csv" else served.inputs.from_mlflow(parse_json(body, True))
    outputs = bundle.predict(served.inputs.feeds_of(rows, current_app.config["MAX_ROWS"]))
    return Response(served.answers.mlflow(outputs), mimetype=JSON)


@api.get("/ping")
def ping() -> Response:
    model().require()
    return Response("\n", mimetype=JSON)


@api.get("/version")
def version() -> Response:
    manifest = model().require().manifest
    return Response(f"{manifest.model_name}/{manifest.model_version}\n", mimetype="text/plain")


@api.get("/openapi.json")
def openapi() -> Response:
    served = model()
    return json_response(build_spec(served.require().manifest, served.inputs, current_app.config["MAX_ROWS"]))


@api.get("/docs")
def docs() -> Response:
    return Response(DOCS_PAGE, mimetype="text/html")


@api.app_errorhandler(InputError)
def input_error(error: InputError) -> Response:
    return json_response(error.body(), error.status, {"Retry-After": "1"} if error.status == 503 else None)


@api.app_errorhandler(HTTPException)
def http_error(error: HTTPException) -> Response:
    if error.code == 413:  # from MAX_CONTENT_LENGTH, declared or read
        message = f"the body exceeds the limit of {current_app.config['MAX_BODY_BYTES']} bytes"
    else:
        message = f"{error.name}: {error.description}"
    allow = {"Allow": error.get_response().headers["Allow"]} if error.code == 405 else None
    return json_response({"error": message}, error.code or 500, allow)


@api.app_errorhandler(Exception)
def unexpected(error: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.path)
    return json_response({"error": "internal server error"}, 500)


def create_app(config: dict | None = None) -> Flask:
    app = Flask(__name__, static_folder=SWAGGER_UI, static_url_path="/docs/assets")
    app.config.update(settings_from_env(), **(config or {}))
    app.config["MAX_CONTENT_LENGTH"] = app.config["MAX_BODY_BYTES"] + 1  # see body_of()
    app.extensions["model"] = state = Model(Path(app.config["MODEL_DIR"]))
    if app.config["LOAD_IN_BACKGROUND"]:
        threading.Thread(target=state.load, name="load-model", daemon=True).start()
    else:
        state.load()
    app.register_blueprint(api)
    return app
