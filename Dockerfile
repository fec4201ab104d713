# The prediction API for the registry's champion, exported by `dvc repro` into models/serving/.
#   docker build -t model-api .
#   docker run --rm -p 8000:8000 model-api
ARG BASE_IMAGE=python:3.11-slim

# Build stage: a virtual environment with only the serving lock's packages, every one hash-checked.
FROM ${BASE_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore \
    PYTHONDONTWRITEBYTECODE=1 PYTHONHASHSEED=0
# binutils for strip (build stage only).
RUN apt-get update && apt-get install -y --no-install-recommends binutils && rm -rf /var/lib/apt/lists/*
COPY requirements-serve.txt /tmp/requirements-serve.txt
# Then trim what serving never loads: pip itself; onnxruntime's C library (the Python binding is
# self-contained; libonnxruntime.so serves C callers), its model-building tools and ONNX backend, and the
# packages only those import (protobuf, flatbuffers, packaging); numpy's build tools, tests, test
# extensions, C headers, stubs and the submodules it loads only on demand (random, fft, polynomial, ma,
# testing, typing); the two Swagger UI scripts /docs does not load; gunicorn's ASGI, uWSGI, "dirty" and
# gevent/eventlet/tornado code (the sync and gthread workers need none of it). Symbol tables are stripped
# from the extensions (not from the auditwheel-patched *.libs, which strip breaks). The libraries keep
# only bytecode (tracebacks show file and line, not the source text), compiled once so that workers start
# fast, hash-based, in a fixed hash seed and one process, so that two builds write the same bytes.
RUN python3 -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-compile --require-hashes --only-binary=:all: -r /tmp/requirements-serve.txt \
    && /opt/venv/bin/pip uninstall --yes protobuf flatbuffers packaging pip setuptools wheel \
    && cd /opt/venv/lib/python3*/site-packages \
    && rm -rf onnxruntime/capi/libonnxruntime.so* onnxruntime/transformers onnxruntime/quantization \
              onnxruntime/tools onnxruntime/backend onnxruntime/datasets \
              numpy/f2py numpy/distutils numpy/_pyinstaller numpy/tests numpy/*/tests numpy/conftest.py \
              numpy/random numpy/fft numpy/polynomial numpy/ma numpy/testing numpy/typing numpy/doc \
              numpy/_core/include numpy/_core/lib numpy/_core/_simd.* numpy/_core/_*_tests.* \
              /opt/venv/bin/f2py /opt/venv/bin/numpy-config /opt/venv/bin/onnxruntime_test \
              flask_swagger_ui/dist/swagger-ui.js flask_swagger_ui/dist/swagger-ui-standalone-preset.js \
              gunicorn/asgi gunicorn/dirty gunicorn/uwsgi gunicorn/workers/gasgi.py \
              gunicorn/workers/base_async.py gunicorn/workers/ggevent.py gunicorn/workers/geventlet.py \
              gunicorn/workers/gtornado.py \
    && find /opt/venv \( -name '__pycache__' -o -name '*.pyi' -o -name '*.pxd' \) -prune -exec rm -rf {} + \
    && find /opt/venv -name '*.so*' -type f ! -path '*.libs/*' -exec strip --strip-unneeded {} + \
    && /opt/venv/bin/python -m compileall -q -b --invalidation-mode unchecked-hash /opt/venv/lib \
    && find /opt/venv/lib -name '*.py' -delete

# Server stage: the venv and the serving code, owned by root, run by an unprivileged user.
# The build's SOURCE_DATE_EPOCH, if given, is the user's password-change date in /etc/shadow (else today).
FROM ${BASE_IMAGE} AS server
ARG SOURCE_DATE_EPOCH
RUN useradd --no-log-init --create-home --uid 10001 --user-group app
COPY --from=build /opt/venv /opt/venv
COPY src/mlserve /app/mlserve
RUN PYTHONDONTWRITEBYTECODE=1 PYTHONHASHSEED=0 python3 -m compileall -q --invalidation-mode checked-hash /app/mlserve
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MODEL_DIR=/app/model \
    HOST=0.0.0.0 \
    PORT=8000 \
    WORKERS=2 \
    THREADS=1 \
    TIMEOUT=30 \
    GRACEFUL_TIMEOUT=20 \
    WORKER_TMP_DIR=/dev/shm
USER app
WORKDIR /home/app
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ['PORT']}/ready\", timeout=2)"]
# gunicorn stops on SIGTERM gracefully: in-flight requests finish within GRACEFUL_TIMEOUT.
STOPSIGNAL SIGTERM
CMD ["gunicorn", "--config", "/app/mlserve/gunicorn_conf.py"]

# The team setup's replicas: the server, started by deploy/serve/champion.py, which first fetches the
# registry's champion (CHAMPION_URI) from the MLflow server into MODEL_DIR.
FROM server AS replica
COPY deploy/serve/champion.py /app/champion.py
CMD ["python3", "/app/champion.py"]

# The default image: the server with the bundle `dvc repro` exported, baked in.
FROM server
COPY models/serving /app/model
