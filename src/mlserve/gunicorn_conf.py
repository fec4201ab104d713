"""gunicorn settings, all from the environment (documented in the README), and the start-up integrity check.

The master checks the bundle before it forks a single worker: a missing bundle, a manifest that does not
parse or a model whose sha256 differs from the manifest stops the server with one clear line and a
non-zero exit, instead of workers that boot, fail and are restarted forever.
"""

import gc
import os
import socket
import sys
from pathlib import Path

from mlserve.bundle import BundleError, verify

bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WORKERS", os.environ.get("WEB_CONCURRENCY", "2")))
threads = int(os.environ.get("THREADS", "1"))
worker_class = "gthread" if threads > 1 else "sync"
timeout = int(os.environ.get("TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("GRACEFUL_TIMEOUT", "20"))
keepalive = int(os.environ.get("KEEPALIVE", "5"))
backlog = int(os.environ.get("BACKLOG", "2048"))
max_requests = int(os.environ.get("MAX_REQUESTS", "0"))
max_requests_jitter = int(os.environ.get("MAX_REQUESTS_JITTER", "0"))
limit_request_line = 8190
accesslog = os.environ.get("ACCESS_LOG") or None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info")
worker_tmp_dir = os.environ.get("WORKER_TMP_DIR") or None
wsgi_app = "mlserve.app:create_app()"


def on_starting(server):
    directory = Path(os.environ.get("MODEL_DIR", "models/serving"))
    try:
        manifest = verify(directory)
    except BundleError as error:
        print(f"mlserve: refusing to start: {error}", file=sys.stderr, flush=True)
        sys.exit(2)
    server.log.info("bundle ok: %s version %s (%s)", manifest.model_name, manifest.model_version, directory)


def when_ready(server):
    """Sync workers answer each connection once and close it: with TCP_CORK (inherited by accepted
    sockets) the status line, headers and body leave together at the close, instead of the headers
    first. A proxy (the team setup's NGINX) that has not yet seen a byte of an answer can retry the request
    on another replica when this one dies; once it has forwarded headers, it can only cut the client off."""
    if worker_class != "sync":  # kept-alive connections (gthread) would wait up to 200 ms for the cork
        return
    for listener in server.LISTENERS:
        if listener.sock.family in (socket.AF_INET, socket.AF_INET6):
            listener.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)


def post_worker_init(worker):
    """Said once the worker has loaded the model and is about to accept requests (a restart is over).

    What is alive now (the libraries, the app, the model) lives as long as the worker: frozen, it is left out
    of every garbage collection, so a full one, which the rows of a large request can set off, stays short
    (40 ms each, one every few 10,000-row requests, before). A request's rows are tuples, which the collector
    tracks without ever finding a cycle among them: at 50,000 allocations instead of 700 between young
    collections, a 10,000-row request sets off none instead of about 23 (1.5 ms less)."""
    gc.freeze()
    gc.set_threshold(50_000, *gc.get_threshold()[1:])
    worker.log.info("worker %s ready", worker.pid)
