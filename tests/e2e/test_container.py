"""The serving image, built and run for real, and talked to from the host over loopback."""

from __future__ import annotations

import itertools
import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from benchmarks.harness import free_port
from mlproject.inputs import model_input
from mlproject.model_io import load_model
from scripts.containers import base_image, build, find_engine
from tests.helpers import chromium

pytestmark = pytest.mark.slow

SIZE_OVER_BASE_LIMIT = 80 * 1000 * 1000
READY_LIMIT_SECONDS = 1.0


def get(url: str, timeout: float = 2) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def post_json(url: str, body: object) -> tuple[int, dict]:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture(scope="module")
def image(reproduced, tmp_path_factory):
    engine = find_engine(tmp_path_factory.mktemp("engine"))
    tag, base = f"localhost/mlserve-test:{os.getpid()}", base_image(engine)
    image_id = build(engine, reproduced.root, tag, cache=False, base=base)
    yield engine, tag, image_id, base
    engine.run("rmi", "--force", tag, check=False)


CONTAINERS = itertools.count()


@contextmanager
def running(engine, tag: str) -> Iterator[tuple[str, str, float]]:
    """A container of the image: its name, its base URL, and the seconds from `run` to a 200 on /ready."""
    name = f"mlserve-test-{os.getpid()}-{next(CONTAINERS)}"
    port = free_port()
    started = time.perf_counter()
    try:
        engine.run("run", "--detach", "--name", name, "--publish", f"127.0.0.1:{port}:8000", tag)
        url = f"http://127.0.0.1:{port}"
        deadline = started + 30
        while time.perf_counter() < deadline:
            try:
                if get(f"{url}/ready", timeout=0.5)[0] == 200:
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.02)
        else:
            logs = engine.run("logs", name, check=False)
            raise AssertionError(f"the container never became ready:\n{logs.stdout}\n{logs.stderr}")
        yield name, url, time.perf_counter() - started
    finally:
        engine.run("rm", "--force", "--time", "2", name, check=False)


@pytest.fixture(scope="module")
def container(image):
    """A running container, the seconds it took from `run` to a 200 on /ready, and its base URL."""
    engine, tag, _, _ = image
    with running(engine, tag) as (name, url, seconds):
        yield engine, name, url, seconds


def test_the_container_predicts_what_the_offline_pipeline_predicts(container, reproduced, schema):
    _, _, url, _ = container
    test = pd.read_csv(reproduced.root / "data/processed/test.csv")
    features = model_input(test, schema)
    offline = load_model(reproduced.root / "models/model.skops")
    records = json.loads(test[schema.feature_names].to_json(orient="records"))
    status, body = post_json(f"{url}/predict", records)
    assert status == 200, body
    tolerance = reproduced.params().export.tolerance
    if schema.task == "classification":
        assert body["predictions"] == offline.predict(features).tolist()
        np.testing.assert_allclose(body["probabilities"], offline.predict_proba(features), atol=1e-5)
    else:
        np.testing.assert_allclose(
            body["predictions"], offline.predict(features), atol=tolerance.absolute, rtol=tolerance.relative
        )


def test_ready_and_metadata_report_the_registry_champion(container, reproduced):
    _, _, url, _ = container
    status, body = get(f"{url}/ready")
    assert status == 200 and json.loads(body)["status"] == "ready"
    registry = reproduced.params().registry
    client = MlflowClient(tracking_uri=f"sqlite:///{reproduced.root / 'mlflow.db'}")
    champion = client.get_model_version_by_alias(registry.model_name, registry.champion_alias)
    status, body = get(f"{url}/metadata")
    manifest = json.loads(body)
    assert (manifest["model_name"], manifest["model_version"]) == (registry.model_name, int(champion.version))


def test_the_server_runs_as_a_user_who_cannot_write_the_code(container):
    engine, name, _, _ = container
    status = engine.run("exec", name, "cat", "/proc/1/status").stdout
    uid = next(line.split()[1] for line in status.splitlines() if line.startswith("Uid:"))
    assert uid != "0"
    attempt = engine.run("exec", name, "touch", "/app/mlserve/app.py", check=False)
    assert attempt.returncode != 0 and "Permission denied" in attempt.stderr


def test_bad_requests_get_json_errors_through_the_container(container):
    _, _, url, _ = container
    status, body = post_json(f"{url}/predict", {"no_such_field": "long"})
    assert status == 400 and body["detail"]
    assert get(f"{url}/nowhere")[0] == 404


def test_image_size_over_its_base_and_start_to_ready_time(image, container):
    """The start is timed three times and the fastest counts: the image's own time, without a moment when
    another process had the machine's two cores."""
    engine, tag, _, base_name = image
    size, base = (
        int(engine.run("image", "inspect", "--format", "{{.Size}}", name).stdout) for name in (tag, base_name)
    )
    _, _, _, first = container
    starts = [first]
    for _ in range(2):
        with running(engine, tag) as (_, _, again):
            starts.append(again)
    seconds = min(starts)
    print(
        f"\nimage size {size / 1e6:.1f} MB, {(size - base) / 1e6:.2f} MB over its base;"
        f" start to ready {', '.join(f'{s:.2f}' for s in starts)} s"
    )
    assert size - base <= SIZE_OVER_BASE_LIMIT, f"the image is {(size - base) / 1e6:.2f} MB over its base"
    assert seconds <= READY_LIMIT_SECONDS, f"start to ready took {seconds:.2f} s"


def test_two_builds_without_cache_give_the_same_image_id(image, reproduced):
    engine, _, first, base = image
    again = f"localhost/mlserve-test-again:{os.getpid()}"
    try:
        assert build(engine, reproduced.root, again, cache=False, base=base) == first
    finally:
        engine.run("rmi", again, check=False)


def test_docs_show_the_predict_operation_in_a_browser(container):
    """Swagger UI's assets come from the image: the page renders with no network but the container's."""
    _, _, url, _ = container
    page = chromium(f"{url}/docs", "--dump-dom").stdout
    assert 'data-path="/predict"' in page and 'class="opblock opblock-post' in page
    assert get(f"{url}/docs/assets/swagger-ui-bundle.js")[0] == 200


def test_the_image_has_a_healthcheck_and_no_training_code(image, container):
    engine, tag, _, _ = image
    config = json.loads(engine.run("image", "inspect", tag).stdout)[0]
    health = (config.get("Config") or {}).get("Healthcheck") or config.get("Healthcheck")
    assert health and "/ready" in " ".join(health["Test"])
    _, name, _, _ = container
    listing = engine.run("exec", name, "ls", "/app", "/app/model").stdout.split()
    assert "mlproject" not in listing and "model.onnx" in listing
    packages = engine.run("exec", name, "/opt/venv/bin/python", "-c", "import sklearn", check=False)
    assert packages.returncode != 0
