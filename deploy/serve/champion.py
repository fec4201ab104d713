"""Start a team replica: fetch the registry's champion from the MLflow server, then serve it with gunicorn.

The export stage logs the serving bundle (manifest.json and the ONNX model) in the run of the version it
exported, under `serving/`. With CHAMPION_URI=models:/<name>@<alias> and MLFLOW_TRACKING_URI (and
MLFLOW_TRACKING_USERNAME/PASSWORD), this asks the registry which version the alias names, downloads that
bundle into MODEL_DIR and hands over to gunicorn, whose master checks it like a baked-in one. Until the
server answers, the alias exists and its bundle is exported, it waits (one line per new reason); wrong
credentials stop it. Only the standard library: nothing is unpickled, the image gains one file.
"""

from __future__ import annotations

import base64
import json
import os
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

from mlserve.manifest import MANIFEST_FILE, RUN_FOLDER

URI = re.compile(r"models:/(?P<name>[^@/]+)@(?P<alias>[^@/]+)")
GUNICORN = ["gunicorn", "--config", "/app/mlserve/gunicorn_conf.py"]


class RegistryError(RuntimeError):
    """The server refused us for good (credentials, a malformed URI): waiting would not help."""


class NotYet(RuntimeError):
    """The server, the alias or its bundle is not there yet."""


class Registry:
    def __init__(self, base_url: str, username: str | None, password: str | None, timeout: float = 10):
        self.base_url = base_url.rstrip("/")
        self.headers = {}
        if username:
            token = base64.b64encode(f"{username}:{password or ''}".encode()).decode()
            self.headers["Authorization"] = f"Basic {token}"
        self.timeout = timeout

    def get(self, endpoint: str, **query: str) -> bytes:
        url = f"{self.base_url}{endpoint}?{urllib.parse.urlencode(query)}"
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=self.headers), timeout=self.timeout) as r:
                return r.read()
        except urllib.error.HTTPError as error:
            if error.code == 401:
                raise RegistryError(f"{self.base_url} refused the credentials (401): check "
                                    "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD") from None  # fmt: skip
            # MLflow's auth answers 403 for a model that does not exist yet as for one the user may not read.
            meaning = " (no such model yet, or no permission to read it)" if error.code == 403 else ""
            raise NotYet(f"{endpoint} answered {error.code}{meaning}") from None
        except (urllib.error.URLError, OSError) as error:
            raise NotYet(f"{self.base_url} does not answer ({getattr(error, 'reason', error)})") from None

    def champion(self, name: str, alias: str) -> tuple[str, str]:
        """The version the alias names, and the run it came from."""
        found = json.loads(self.get("/api/2.0/mlflow/registered-models/alias", name=name, alias=alias))
        version = found["model_version"]
        return version["version"], version["run_id"]

    def artifact(self, run_id: str, path: str) -> bytes:
        return self.get("/get-artifact", run_uuid=run_id, path=path)


def fetch(uri: str, registry: Registry, directory: Path) -> str:
    """Download the bundle of the version `uri` names into `directory`; return that version."""
    match = URI.fullmatch(uri)
    if match is None:
        raise RegistryError(f"CHAMPION_URI={uri!r} is not of the form models:/<name>@<alias>")
    version, run_id = registry.champion(match["name"], match["alias"])
    manifest = registry.artifact(run_id, f"{RUN_FOLDER}/{MANIFEST_FILE}")
    model_file = json.loads(manifest).get("model_file", "")
    if not model_file or "/" in model_file:
        raise RegistryError(f"version {version}'s {MANIFEST_FILE} names no model file")
    model = registry.artifact(run_id, f"{RUN_FOLDER}/{model_file}")
    directory.mkdir(parents=True, exist_ok=True)
    (directory / model_file).write_bytes(model)
    (directory / MANIFEST_FILE).write_bytes(manifest)  # last: it vouches for the model, which gunicorn checks
    return version


def say(line: str) -> None:
    print(f"champion: {line}", file=sys.stderr, flush=True)


def wait_for_champion(uri: str, directory: Path, say: Callable[[str], None] = say, interval: float = 5) -> str:
    registry = Registry(
        os.environ.get("MLFLOW_TRACKING_URI", ""),
        os.environ.get("MLFLOW_TRACKING_USERNAME"),
        os.environ.get("MLFLOW_TRACKING_PASSWORD"),
    )
    if not registry.base_url.startswith(("http://", "https://")):
        raise RegistryError("CHAMPION_URI needs MLFLOW_TRACKING_URI, the MLflow server's http(s) address")
    said = None
    while True:
        try:
            return fetch(uri, registry, directory)
        except NotYet as error:
            if str(error) != said:
                say(f"waiting for {uri} on {registry.base_url}: {error}")
                said = str(error)
            time.sleep(interval)


def main() -> int:
    uri = os.environ.get("CHAMPION_URI", "")
    try:
        version = wait_for_champion(uri, Path(os.environ.get("MODEL_DIR", "models/serving")))
    except RegistryError as error:
        say(f"refusing to start: {error}")
        return 2
    say(f"fetched version {version} of {uri}")
    os.execvp(GUNICORN[0], GUNICORN)  # gunicorn takes this process over: signals reach its master


if __name__ == "__main__":
    sys.exit(main())
