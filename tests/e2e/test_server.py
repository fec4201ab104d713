"""The real server process: gunicorn with the image's configuration, on loopback."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest

from benchmarks.harness import free_port, gunicorn, gunicorn_command, image_env
from mlserve import bundle
from mlserve.app import create_app
from mlserve.manifest import FORMAT_VERSION


def refusal(model_dir: Path) -> tuple[int, str]:
    env = image_env(model_dir, free_port())
    server = subprocess.Popen(gunicorn_command(), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _, stderr = server.communicate(timeout=30)
    finally:
        server.kill()
    return server.returncode, stderr


@pytest.fixture
def broken(bundle_dir, tmp_path) -> Path:
    copy = tmp_path / "bundle"
    shutil.copytree(bundle_dir, copy)
    return copy


def test_a_tampered_model_stops_the_server_before_any_worker(broken):
    model = broken / "model.onnx"
    model.write_bytes(model.read_bytes()[:-1] + b"\0")
    code, stderr = refusal(broken)
    assert code == 2
    assert "refusing to start" in stderr and "does not match its manifest: sha256" in stderr
    assert "Booting worker" not in stderr


def test_a_missing_bundle_stops_the_server(tmp_path):
    code, stderr = refusal(tmp_path / "nothing-here")
    assert code == 2 and "no model bundle at" in stderr and "manifest.json is missing" in stderr


def test_a_manifest_that_does_not_parse_stops_the_server(broken):
    (broken / "manifest.json").write_text('{"model_name": ')
    code, stderr = refusal(broken)
    assert code == 2 and "manifest.json is not valid JSON" in stderr


REEXPORT = f"but this server reads {FORMAT_VERSION}: export it again"


@pytest.mark.parametrize(
    ("key", "value", "named"),
    [
        ("colour", "blue", "manifest.json: Object contains unknown field `colour`"),
        ("task", None, "manifest.json: Object missing required field `task`"),
        ("model_version", "7", "manifest.json: Expected `int`, got `str` - at `$.model_version`"),
        ("format_version", 1, f"manifest.json: format_version 1, {REEXPORT}"),
        ("format_version", None, f"manifest.json: no format_version, {REEXPORT}"),
    ],
    ids=["unknown key", "missing key", "wrong type", "other format", "no format"],
)
def test_a_manifest_of_another_structure_stops_the_server_with_one_line_naming_it(broken, key, value, named):
    manifest = {**json.loads((broken / "manifest.json").read_text()), key: value}
    if value is None:
        del manifest[key]
    (broken / "manifest.json").write_text(json.dumps(manifest))
    code, stderr = refusal(broken)
    ours = [line for line in stderr.splitlines() if not line.startswith("[")]  # gunicorn's log lines start with [
    assert code == 2 and ours == [f"mlserve: refusing to start: {broken}/{named}"]


def test_a_missing_model_file_stops_the_server(broken):
    (broken / "model.onnx").unlink()
    code, stderr = refusal(broken)
    assert code == 2 and "model.onnx is missing" in stderr


@pytest.mark.parametrize(
    ("feeds", "problem"),
    [
        (["bill_length_mm"], "one distinct ONNX input per input column"),
        (["x"] * 6, "one distinct ONNX input per input column"),
    ],
)
def test_feeds_that_do_not_fit_the_columns_stop_the_server(broken, feeds, problem):
    manifest = json.loads((broken / "manifest.json").read_text())
    (broken / "manifest.json").write_text(json.dumps({**manifest, "feeds": feeds}))
    with pytest.raises(bundle.BundleError, match=problem):
        bundle.verify(broken)
    code, stderr = refusal(broken)
    assert code == 2 and problem in stderr


def test_feeds_that_are_not_the_models_inputs_fail_the_load_naming_both(broken):
    manifest = json.loads((broken / "manifest.json").read_text())
    (broken / "manifest.json").write_text(json.dumps({**manifest, "feeds": list("abcdef")}))
    with pytest.raises(bundle.BundleError, match=r"the model's inputs \['bill_length_mm'.* do not match .*\['a', 'b'"):
        bundle.load(broken)


def test_the_server_answers_and_stops_cleanly_on_sigterm(bundle_dir):
    with gunicorn(bundle_dir, GRACEFUL_TIMEOUT="5") as server:
        with urllib.request.urlopen(f"{server.url}/ready", timeout=5) as response:
            assert json.loads(response.read())["status"] == "ready"
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=15) == 0


def post(url: str, body: bytes, chunked: bool) -> tuple[int, dict]:
    """POST to /predict, either with a Content-Length or in chunks (which announce no length)."""
    connection = http.client.HTTPConnection(urlsplit(url).netloc, timeout=10)
    try:
        headers = {"Content-Type": "application/json"}
        chunks = (body[i : i + 1000] for i in range(0, len(body), 1000))
        connection.request("POST", "/predict", chunks if chunked else body, headers, encode_chunked=chunked)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def test_the_body_limit_holds_for_declared_and_chunked_bodies(bundle_dir):
    """gunicorn's own input stream is read directly: the limit must hold there too, announced or not."""
    row = [39.1, 18.7, 181.0, 3750.0, "Torgersen", "male"]
    small, large = json.dumps([row] * 20).encode(), json.dumps([row] * 200).encode()
    with gunicorn(bundle_dir, MAX_BODY_BYTES="3000") as server:
        url = server.url
        for chunked in (False, True):
            status, answer = post(url, small, chunked)
            assert status == 200 and len(answer["predictions"]) == 20
            status, answer = post(url, large, chunked)
            assert status == 413 and "exceed" in answer["error"] and "limit of 3000" in answer["error"]


class _RunsCodeWhenUnpickled:
    """Unpickling this calls os.system: a marker file appears if anything ever loads it."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_pickle_in_place_of_the_model_is_refused_and_never_run(broken, tmp_path):
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_RunsCodeWhenUnpickled(marker))
    (broken / "model.onnx").write_bytes(payload)
    manifest = json.loads((broken / "manifest.json").read_text())
    manifest["model_sha256"] = hashlib.sha256(payload).hexdigest()  # even with a matching digest
    (broken / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(bundle.BundleError, match="cannot be loaded by onnxruntime"):
        bundle.load(broken)
    (broken / "manifest.json").write_bytes(payload)
    code, stderr = refusal(broken)
    assert code == 2 and "manifest.json is not valid JSON" in stderr
    assert not marker.exists()


@pytest.mark.parametrize("content_type", ["application/json", "application/octet-stream", "application/python-pickle"])
def test_a_pickle_posted_as_a_request_is_refused_and_never_run(bundle_dir, tmp_path, content_type):
    marker = tmp_path / "pwned"
    client = create_app({"MODEL_DIR": str(bundle_dir), "LOAD_IN_BACKGROUND": False}).test_client()
    for path in ("/predict", "/invocations"):
        response = client.post(path, data=pickle.dumps(_RunsCodeWhenUnpickled(marker)), content_type=content_type)
        expected = 400 if content_type == "application/json" else 415
        assert response.status_code == expected and response.is_json
        message = response.json["message" if path == "/invocations" else "error"]
        assert "malformed JSON" in message or "valid JSON" in message or "Content-Type must be" in message
    assert not marker.exists()


def test_mlflows_own_client_gets_what_mlflow_models_serve_would_answer(bundle_dir, splits, fitted, penguins_schema):
    """MLflow's ScoringServerClient writes a missing value as NaN; the answer is {"predictions": [...]}."""
    from mlflow.pyfunc.scoring_server.client import ScoringServerClient

    from mlproject.inputs import model_input

    test = splits[1].head(8).copy()
    test.loc[test.index[0], "bill_length_mm"] = np.nan
    test.loc[test.index[1], "sex"] = None
    frame = test[penguins_schema.feature_names]
    with gunicorn(bundle_dir) as server:
        url = server.url
        host, port = urlsplit(url).hostname, urlsplit(url).port
        answer = ScoringServerClient(host, port).invoke(frame).get_predictions()
    expected = fitted.predict(model_input(test, penguins_schema))
    assert answer.iloc[:, 0].tolist() == expected.tolist()


@pytest.mark.slow
def test_the_example_client_posts_a_row_and_a_batch(reproduced):
    with gunicorn(reproduced.root / "models/serving") as server:
        url = server.url
        printed = subprocess.run(
            [sys.executable, str(reproduced.root / "client.py"), url], capture_output=True, text=True, timeout=60
        )
    assert printed.returncode == 0, printed.stderr
    lines = printed.stdout.splitlines()
    assert lines[0].startswith("one row:") and "->" in lines[0]
    assert lines[1].startswith("a batch of 5 ->")
