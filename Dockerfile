# The prediction API for the registry's champion, exported by `dvc repro` into models/serving/.
#   docker build -t penguins-api .
#   docker run --rm -p 8000:8000 penguins-api
ARG BASE_IMAGE=python:3.11-slim

# Build stage: a virtual environment with only the serving lock's packages, every one hash-checked.
FROM ${BASE_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore
COPY requirements-serve.txt /tmp/requirements-serve.txt
RUN python3 -m venv /opt/venv \
    && /opt/venv/bin/pip install --require-hashes --only-binary=:all: -r /tmp/requirements-serve.txt \
    && /opt/venv/bin/pip uninstall --yes pip setuptools wheel \
    && find /opt/venv -name '__pycache__' -prune -exec rm -rf {} +

# Runtime stage: the venv, the serving code and the bundle; owned by root, run by an unprivileged user.
FROM ${BASE_IMAGE}
RUN useradd --create-home --uid 10001 --user-group app
COPY --from=build /opt/venv /opt/venv
COPY src/mlserve /app/mlserve
COPY models/serving /app/model
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
