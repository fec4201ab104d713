# Every target creates the virtual environment from the hash-checked lock files on first use.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Put the venv first on PATH so DVC stages (`python -m ...`) run with the locked packages.
export PATH := $(CURDIR)/$(BIN):$(PATH)
# pip mentions index folders this machine's pip configuration names but does not have; they are harmless.
PIP_NOISE := grep -v "is ignored: it is neither a file nor a directory" || true
PIP_COMPILE := $(BIN)/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links
UI_PORT ?= 5000

.PHONY: help venv system-packages repro promote exps test test-fast lint lock params-schema use-example audit ui serve image bench-pipeline bench-serve bench-tuning reliability team-up team-down team-env clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  make %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# uv installs the locks (hash-checked, as pip would) in a fraction of pip's time; it is itself installed by pip
# from its own hash-locked file. `sync` leaves exactly the locked packages; bytecode is compiled up front,
# because every DVC stage and test starts a new Python.
UV_SYNC := $(BIN)/uv pip sync --require-hashes --compile-bytecode --python $(BIN)/python
LOCKS := requirements.txt requirements-dev.txt requirements-uv.txt
# The packages your model needs beyond the template's (an example's, copied by `make use-example`), if any.
LOCKS += $(wildcard requirements-model.txt)

$(STAMP): $(LOCKS) pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (set PYTHON=...)")'
	@echo "Installing the locked packages (hash-checked) into $(VENV): about a minute the first time, seconds after."
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements-uv.txt 2>&1 | { $(PIP_NOISE); }
	$(UV_SYNC) $(LOCKS)
	$(BIN)/uv pip install --quiet --no-deps --no-build-isolation --python $(BIN)/python --editable .
	touch $@

venv: $(STAMP) ## Create .venv from the lock files (hash-checked)

system-packages: ## Install the Debian packages the tests need (podman, debootstrap, wrk, chromium, a JDK) if missing
	bash scripts/system-packages.sh

repro: $(STAMP) ## Reproduce the pipeline: data, training, evaluation, registration, export
	dvc repro

promote: $(STAMP) ## Make model version VERSION the champion (it must pass the gate), then rebuild models/serving/
	PYTHONPATH=src $(BIN)/python -m mlproject.promote $(VERSION)
	dvc repro --single-item champion export

exps: $(STAMP) ## Compare experiments: metrics, and the parameters that differ between them (fits 160 columns)
	$(BIN)/python scripts/exps.py

test: $(STAMP) system-packages ## Run every test, the slow end-to-end and container ones included
	$(BIN)/python -m pytest

test-fast: $(STAMP) ## Run the unit tests only
	$(BIN)/python -m pytest -m "not slow"

lint: $(STAMP) ## Check style and common bugs with ruff, and the types of src/ with mypy
	$(BIN)/ruff check src tests benchmarks scripts examples deploy client.py
	$(BIN)/ruff format --check src tests benchmarks scripts examples deploy client.py
	$(BIN)/mypy

lock: $(STAMP) ## Recompile every lock file from its .in file (needs the network)
	$(PIP_COMPILE) --output-file requirements.txt requirements.in
	$(PIP_COMPILE) --output-file requirements-dev.txt requirements-dev.in
	$(PIP_COMPILE) --output-file requirements-serve.txt requirements-serve.in
	$(PIP_COMPILE) --output-file requirements-uv.txt requirements-uv.in
	$(PIP_COMPILE) --output-file requirements-server.txt requirements-server.in
	$(PIP_COMPILE) --output-file requirements-s3.txt requirements-s3.in
	$(PIP_COMPILE) --output-file requirements-dask.txt requirements-dask.in
	$(if $(wildcard requirements-model.in),$(PIP_COMPILE) --output-file requirements-model.txt requirements-model.in)

params-schema: $(STAMP) ## Write params.schema.json from the typed parameters (editors complete and check params.yaml)
	$(BIN)/python -c 'import json; from mlproject.config import params_json_schema; print(json.dumps(params_json_schema(), indent=2))' > params.schema.json

use-example: ## Switch the project to an example: make use-example EXAMPLE=diabetes (see examples/)
	bash scripts/use-example.sh "$(EXAMPLE)"

audit: $(STAMP) ## pip-audit every lock file (needs the vulnerability service; "NOT AUDITED" is a failure)
	$(BIN)/python scripts/audit.py

ui: $(STAMP) ## MLflow's UI on the project's store (UI_PORT, default 5000): prints the address of the runs table
	PYTHONPATH=src $(BIN)/python scripts/ui.py $(UI_PORT)

serve: $(STAMP) ## Serve models/serving/ locally on gunicorn (HOST, PORT, WORKERS, ... from the environment)
	HOST=$${HOST:-127.0.0.1} $(BIN)/gunicorn --config src/mlserve/gunicorn_conf.py

image: $(STAMP) ## Build the serving image (Docker or podman; IMAGE=name to tag it) and print its ID: the same for every build of a commit
	$(BIN)/python -m scripts.containers "$${IMAGE:-localhost/model-api:latest}" $${NO_CACHE:+--no-cache}

bench-serve: $(STAMP) system-packages ## Throughput and latency of the server vs `mlflow models serve` (markdown table)
	$(BIN)/python -m benchmarks.serve

reliability: $(STAMP) system-packages ## Load and fault harness on the server (needs `make repro`): one table of figures
	$(BIN)/python -m benchmarks.reliability

bench-pipeline: $(STAMP) ## Cold, no-op and one-parameter runs in a fresh clone, and each stage (EXAMPLES=all: every example too)
	$(BIN)/python -m benchmarks.pipeline

bench-tuning: $(STAMP) ## Grid, random and TPE at equal trials on the examples; a search's time locally (and on Dask if DASK_SCHEDULER_ADDRESS)
	$(BIN)/python -m benchmarks.tuning

team-up: $(STAMP) ## Start the team stack (compose.yaml): MLflow server, PostgreSQL, S3, NGINX + replicas; waits until healthy
	bash scripts/system-packages.sh team
	$(BIN)/python -m scripts.team up $(if $(REPLICAS),--replicas $(REPLICAS))

team-down: $(STAMP) ## Stop the team stack; VOLUMES=1 also deletes its data (runs, registry, artifacts, DVC remote)
	$(BIN)/python -m scripts.team down $(if $(VOLUMES),--volumes)

team-env: $(STAMP) ## Point this project at the team stack: team.env for MLflow, DVC remote `team` as the default
	$(BIN)/python -m scripts.team env

clean: ## Remove the virtual environment and caches (keeps data, models and mlflow.db)
	rm -rf $(VENV) .pytest_cache .ruff_cache
