"""The team replica's start (deploy/serve/champion.py) against a small stand-in for the MLflow server's
endpoints, on 127.0.0.1."""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

from mlserve.bundle import verify
from tests.helpers import REPO, load_module

champion = load_module(REPO / "deploy/serve/champion.py", "team_replica_champion")
NotYet, Registry, RegistryError = champion.NotYet, champion.Registry, champion.RegistryError
fetch, wait_for_champion = champion.fetch, champion.wait_for_champion

USER, PASSWORD, RUN_ID = "serving", "a-long-password", "0123abcd"


class FakeMlflow(ThreadingHTTPServer):
    """The alias lookup and the artifact download of an MLflow server with basic auth, over a bundle."""

    def __init__(self, files: dict[str, bytes]):
        super().__init__(("127.0.0.1", 0), Handler)
        self.files = files
        self.alias_missing_for = 0  # answer 404 to this many alias lookups first
        self.requests: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    server: FakeMlflow

    def log_message(self, *args) -> None:
        pass

    def answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        url = urlparse(self.path)
        query = {key: values[0] for key, values in parse_qs(url.query).items()}
        self.server.requests.append(url.path)
        expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        if self.headers.get("Authorization") != expected:
            return self.answer(401, b"You are not authenticated.")
        if url.path == "/api/2.0/mlflow/registered-models/alias":
            if self.server.alias_missing_for > 0:
                self.server.alias_missing_for -= 1
                return self.answer(404, b'{"error_code": "RESOURCE_DOES_NOT_EXIST"}')
            version = {"model_version": {"name": query["name"], "version": "7", "run_id": RUN_ID}}
            return self.answer(200, json.dumps(version).encode())
        if url.path == "/get-artifact" and query.get("run_uuid") == RUN_ID:
            name = query["path"].removeprefix("serving/")
            if name in self.server.files:
                return self.answer(200, self.server.files[name])
        return self.answer(404, b"not found")


@pytest.fixture
def server(bundle_dir):
    fake = FakeMlflow({path.name: path.read_bytes() for path in bundle_dir.iterdir()})
    thread = threading.Thread(target=fake.serve_forever, daemon=True)
    thread.start()
    yield fake
    fake.shutdown()
    fake.server_close()


def test_fetch_downloads_the_bundle_the_alias_names_and_it_verifies(server, bundle_dir, tmp_path):
    version = fetch("models:/penguins@champion", Registry(server.url, USER, PASSWORD), tmp_path / "model")
    assert version == "7"
    for path in bundle_dir.iterdir():
        assert (tmp_path / "model" / path.name).read_bytes() == path.read_bytes()
    assert verify(tmp_path / "model").model_file == "model.onnx"


def test_wrong_credentials_stop_at_once(server, tmp_path):
    with pytest.raises(RegistryError, match="refused the credentials"):
        fetch("models:/penguins@champion", Registry(server.url, USER, "wrong"), tmp_path)
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("uri", ["models:/penguins/3", "penguins@champion", "models:/@champion"])
def test_a_uri_that_names_no_alias_is_refused(uri, server, tmp_path):
    with pytest.raises(RegistryError, match="models:/<name>@<alias>"):
        fetch(uri, Registry(server.url, USER, PASSWORD), tmp_path)


def test_a_missing_alias_or_bundle_is_waited_for(server, tmp_path, monkeypatch):
    registry = Registry(server.url, USER, PASSWORD)
    server.alias_missing_for = 1
    with pytest.raises(NotYet, match="404"):
        fetch("models:/penguins@champion", registry, tmp_path)
    manifest = server.files.pop("manifest.json")
    with pytest.raises(NotYet, match="/get-artifact answered 404"):
        fetch("models:/penguins@champion", registry, tmp_path)
    assert not (tmp_path / "manifest.json").exists()
    server.files["manifest.json"] = manifest

    server.alias_missing_for = 3
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", USER)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", PASSWORD)
    said: list[str] = []
    version = wait_for_champion("models:/penguins@champion", tmp_path / "model", said.append, interval=0.01)
    assert version == "7" and (tmp_path / "model" / "manifest.json").exists()
    assert len(said) == 1 and "waiting for models:/penguins@champion" in said[0]  # said once, not per attempt


def test_an_unreachable_server_is_waited_for_and_no_server_is_refused(tmp_path, monkeypatch):
    with pytest.raises(NotYet, match="does not answer"):
        fetch("models:/penguins@champion", Registry("http://127.0.0.1:9", None, None, timeout=1), tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with pytest.raises(RegistryError, match="needs MLFLOW_TRACKING_URI"):
        wait_for_champion("models:/penguins@champion", tmp_path, print)


def test_the_start_refuses_a_uri_that_names_no_alias_in_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CHAMPION_URI", "models:/penguins/3")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    monkeypatch.setenv("MODEL_DIR", str(tmp_path))
    assert champion.main() == 2
    assert capsys.readouterr().err == (
        "champion: refusing to start: CHAMPION_URI='models:/penguins/3' is not of the form models:/<name>@<alias>\n"
    )
