# The prediction API for the registry's champion, exported by `dvc repro` into models/serving/.
#   docker build -t model-api .
#   docker run --rm -p 8000:8000 model-api
ARG BASE_IMAGE=python:3.11-slim

# Build stage: a virtual environment with only the serving lock's packages, every one hash-checked.
FROM ${BASE_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore
COPY requirements-serve.txt /tmp/requirements-serve.txt
# Then trim what serving never loads: pip itself, onnxruntime's C library (the Python binding is
# self-contained; libonnxruntime.so serves C callers) and its model-building tools, numpy's build
# tools and tests. Bytecode is compiled once here so that workers start fast.
RUN python3 -m venv /opt/venv \
    && /opt/venv/bin/pip install --require-hashes --only-binary=:all: -r /tmp/requirements-serve.txt \
    && /opt/venv/bin/pip uninstall --yes pip setuptools wheel \
    && cd /opt/venv/lib/python3*/site-packages \
    && rm -rf onnxruntime/capi/libonnxruntime.so* onnxruntime/transformers onnxruntime/quantization \
              onnxruntime/tools numpy/f2py numpy/distutils numpy/_pyinstaller numpy/tests numpy/*/tests \
    && find /opt/venv \( -name '__pycache__' -o -name '*.pyi' \) -prune -exec rm -rf {} + \
    && /opt/venv/bin/python -m compileall -q -j 0 /opt/venv

# Server stage: the venv and the serving code, owned by root, run by an unprivileged user. The team
# setup's replicas are this stage (`--target server`): they fetch the champion's bundle from the MLflow
# server at start (CHAMPION_URI) into MODEL_DIR.
FROM ${BASE_IMAGE} AS server
RUN useradd --create-home --uid 10001 --user-group app
COPY --from=build /opt/venv /opt/venv
COPY src/mlserve /app/mlserve
RUN python3 -m compileall -q /app/mlserve
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

# The default image: the server with the bundle `dvc repro` exported, baked in.
FROM server
COPY models/serving /app/model
