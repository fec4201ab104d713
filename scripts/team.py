"""`make team-up`, `make team-down`, `make team-env`: the team stack of compose.yaml, and the project pointed at it.

up    writes deploy/stack.env with random secrets if it is missing, builds the images (on a base built
      here with debootstrap where no registry answers), starts the stack with `docker compose` where a
      Docker engine runs, else with podman-compose, and waits until MLflow, S3 and NGINX answer.
down  stops it; `--volumes` also deletes the data (runs, registry, artifacts, DVC remote).
env   points this project at it: team.env (MLflow server, user, password; git-ignored) and the DVC
      remote `team` as the default, its keys in .dvc/config.local.
Every failure is one line on stderr and a non-zero exit.
"""

from __future__ import annotations

import argparse
import base64
import json
import secrets
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from mlproject import config
from mlproject.compute import SCHEDULER_VARIABLE, TLS_VARIABLES
from scripts.containers import Engine, base_image, find_engine

ROOT = Path(__file__).resolve().parent.parent
STACK_ENV = ROOT / "deploy" / "stack.env"
PODMAN_DIR = ROOT / "deploy" / ".podman"
TEAM_BASE = "python:3.11-slim-bookworm"  # PostgreSQL 15 is Debian bookworm's
MLFLOW_URL, S3_URL, BALANCER_URL = "http://127.0.0.1:5050", "http://127.0.0.1:8333", "http://127.0.0.1:8080"
DASK_SCHEDULER, DASK_DASHBOARD = "tls://127.0.0.1:8786", "http://127.0.0.1:8787"
SECRETS = ("S3_ACCESS_KEY", "S3_SECRET_KEY", "POSTGRES_PASSWORD", "MLFLOW_DB_PASSWORD",
           "MLFLOW_ADMIN_PASSWORD", "SERVING_PASSWORD", "MLFLOW_SECRET_KEY")  # fmt: skip
WAIT_SECONDS = 300


class TeamError(RuntimeError):
    pass


def stack_settings(create: bool = False) -> dict[str, str]:
    """deploy/stack.env (written with random secrets by the first `team-up`); every secret must have a value."""
    if not STACK_ENV.exists() and not create:
        raise TeamError(f"no {STACK_ENV.relative_to(ROOT)}: run `make team-up` first, or copy your team's file there")
    if not STACK_ENV.exists():
        STACK_ENV.touch(mode=0o600)
        STACK_ENV.write_text(
            "# The team stack's secrets, made by `make team-up` (see deploy/stack.env.example). Keep it private.\n"
            + "".join(f"{name}={secrets.token_hex(20)}\n" for name in SECRETS)
        )
        print(f"team: wrote new secrets to {STACK_ENV.relative_to(ROOT)} (git-ignored; share it out of band)")
    settings = config.read_env_file(STACK_ENV)
    if create and not any(settings.get(name) for name in TLS_VARIABLES):  # new, or from before the Dask cluster
        with STACK_ENV.open("a") as stack_env:
            stack_env.write("".join(f"{name}={value}\n" for name, value in dask_tls_pair().items()))
        settings = config.read_env_file(STACK_ENV)
    missing = [name for name in (*SECRETS, *TLS_VARIABLES) if not settings.get(name)]
    if missing:
        raise TeamError(f"{STACK_ENV.relative_to(ROOT)} gives no value to {', '.join(missing)}")
    return settings


def dask_tls_pair(days: int = 3650) -> dict[str, str]:
    """A self-signed key and certificate for the stack's Dask cluster, each the base64 of its PEM (one line
    in an env file). Scheduler, workers and the project's client all present it: holding it is the key."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mlproject-dask")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    pem_key = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())  # fmt: skip
    pem_certificate = certificate.public_bytes(serialization.Encoding.PEM)
    return {
        name: base64.b64encode(pem).decode()
        for name, pem in zip(TLS_VARIABLES, (pem_key, pem_certificate), strict=True)
    }


def compose_command(engine: Engine) -> list[str]:
    if engine.command == "docker":
        return ["docker", "compose"]
    found = shutil.which("podman-compose") or str(Path(sys.executable).with_name("podman-compose"))
    if not Path(found).exists():
        raise TeamError("podman-compose is missing: run `make venv` (it is in requirements-dev.txt)")
    return [found]


class Stack:
    """compose.yaml run by the machine's engine, with deploy/stack.env and the project's model name."""

    def __init__(self, engine: Engine, extra_env: dict[str, str] | None = None, project: str | None = None):
        registry = config.load_params(ROOT / "params.yaml", build_estimators=False).registry
        self.engine = engine
        self.env = dict(engine.env, MODEL_NAME=registry.model_name, CHAMPION_ALIAS=registry.champion_alias)
        self.env.update(extra_env or {})
        self.command = [*compose_command(engine), "--file", str(ROOT / "compose.yaml"), "--env-file", str(STACK_ENV)]
        if project:  # another stack beside the default one (its own containers, network and volumes)
            self.command += ["--project-name", project]
        self.registry = registry

    def compose(self, *args: str, timeout: float = 3600, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run([*self.command, *args], cwd=ROOT, env=self.env, capture_output=True, text=True,
                                timeout=timeout)  # fmt: skip
        if check and result.returncode != 0:
            tail = (result.stderr or result.stdout).strip().splitlines()[-15:]
            raise TeamError(f"`compose {' '.join(args)}` failed ({result.returncode}):\n" + "\n".join(tail))
        return result


def get(url: str, auth: tuple[str, str] | None = None, timeout: float = 3) -> int:
    request = urllib.request.Request(url)
    if auth:
        request.add_header("Authorization", "Basic " + base64.b64encode(":".join(auth).encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except (urllib.error.URLError, OSError):
        return 0


def wait_until(what: str, ready, deadline: float) -> None:
    while not ready():
        if time.monotonic() > deadline:
            raise TeamError(f"{what} did not answer within {WAIT_SECONDS} s: see `podman logs` / `docker logs`")
        time.sleep(1)


def champion_status(registry: config.RegistryParams, settings: dict[str, str]) -> int:
    """200 if the server has the champion alias, 403/404 if not, 0 if it does not answer."""
    query = urllib.parse.urlencode({"name": registry.model_name, "alias": registry.champion_alias})
    url = f"{MLFLOW_URL}/api/2.0/mlflow/registered-models/alias?{query}"
    return get(url, ("admin", settings["MLFLOW_ADMIN_PASSWORD"]))


def dask_workers() -> int:
    """How many workers the team's Dask scheduler has (0 if it does not answer)."""
    try:
        with urllib.request.urlopen(f"{DASK_DASHBOARD}/json/counts.json", timeout=3) as response:
            return int(json.loads(response.read()).get("workers", 0))
    except (urllib.error.URLError, OSError, ValueError):
        return 0


def wait_healthy(stack: Stack, settings: dict[str, str]) -> None:
    """MLflow (which waits for PostgreSQL and S3 itself), S3 and NGINX; the replicas too if there is a champion."""
    deadline = time.monotonic() + WAIT_SECONDS
    wait_until(f"MLflow ({MLFLOW_URL})", lambda: get(f"{MLFLOW_URL}/health") == 200, deadline)
    wait_until(f"S3 ({S3_URL})", lambda: get(S3_URL) in (200, 403), deadline)
    wait_until(f"NGINX ({BALANCER_URL})", lambda: get(f"{BALANCER_URL}/balancer/health") == 200, deadline)
    workers = int(stack.env.get("DASK_WORKERS", "2"))
    wait_until(f"the Dask scheduler and its {workers} workers ({DASK_DASHBOARD})",
               lambda: dask_workers() >= workers, deadline)  # fmt: skip
    champion = f"models:/{stack.registry.model_name}@{stack.registry.champion_alias}"
    if champion_status(stack.registry, settings) == 200:
        wait_until("the serving replicas", lambda: get(f"{BALANCER_URL}/ready") == 200, deadline)
        print(f"team: the replicas serve {champion} at {BALANCER_URL}")
    else:
        print(f"team: no {champion} yet: the replicas serve it once "
              "`make team-env && dvc repro` has registered and exported one")  # fmt: skip


def container_engine() -> Engine:
    PODMAN_DIR.mkdir(exist_ok=True)
    return find_engine(PODMAN_DIR)


def up(replicas: int | None, project: str | None) -> None:
    settings = stack_settings(create=True)
    engine = container_engine()
    started = time.perf_counter()
    extra = {"BASE_IMAGE": base_image(engine, TEAM_BASE)}
    if replicas is not None:
        extra["SERVE_REPLICAS"] = str(replicas)
    stack = Stack(engine, extra, project)
    stack.compose("build")
    built = time.perf_counter()
    # docker compose recreates what changed; podman-compose would keep containers of the old images
    stack.compose("up", "--detach", *(["--force-recreate"] if engine.command == "podman" else []))
    wait_healthy(stack, settings)
    print(f"team: up (build {built - started:.0f} s, start {time.perf_counter() - built:.0f} s): "
          f"MLflow {MLFLOW_URL} (user admin), S3 {S3_URL}, serving {BALANCER_URL}, "
          f"Dask {DASK_SCHEDULER} (dashboard {DASK_DASHBOARD})")  # fmt: skip


def down(volumes: bool, project: str | None) -> None:
    stack_settings()  # compose reads the secrets even to stop: refuse in one line when they are missing
    stack = Stack(container_engine(), project=project)
    stack.compose("down", *(["--volumes"] if volumes else []))
    print("team: down" + (", volumes deleted" if volumes else " (volumes kept; VOLUMES=1 deletes them)"))


def dvc(*args: str) -> None:
    dvc_bin = shutil.which("dvc") or str(Path(sys.executable).with_name("dvc"))
    result = subprocess.run([dvc_bin, *args], cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise TeamError(f"`dvc {' '.join(args)}` failed: {last}")


def env() -> None:
    settings = stack_settings()
    team_env = ROOT / config.TEAM_ENV
    team_env.touch(mode=0o600)
    team_env.write_text(
        "# Written by `make team-env`: the stages, `make ui` and the MLflow client use the team server.\n"
        "# Delete this file to go back to the project's own mlflow.db.\n"
        f"MLFLOW_TRACKING_URI={MLFLOW_URL}\nMLFLOW_TRACKING_USERNAME=admin\n"
        f"MLFLOW_TRACKING_PASSWORD={settings['MLFLOW_ADMIN_PASSWORD']}\n"
        "# A stage gives up on an unreachable or failing server after two retries (MLflow's default of seven,\n"
        "# with backoff, can take many minutes).\n"
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES=2\nMLFLOW_HTTP_REQUEST_BACKOFF_FACTOR=1\nMLFLOW_HTTP_REQUEST_TIMEOUT=60\n"
        "# The stack's S3 is reachable from its own network only: artifacts go through the server, never\n"
        "# through S3 links the server would hand out.\n"
        "MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD=false\nMLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD=false\n"
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR=false\n"
        "# Tuning trials and cross-validation folds run on the stack's Dask cluster (delete this line to run\n"
        "# them on local processes), over TLS with the stack's key and certificate.\n"
        f"{SCHEDULER_VARIABLE}={DASK_SCHEDULER}\n" + "".join(f"{name}={settings[name]}\n" for name in TLS_VARIABLES)
    )
    dvc("remote", "modify", "--local", "team", "access_key_id", settings["S3_ACCESS_KEY"])
    dvc("remote", "modify", "--local", "team", "secret_access_key", settings["S3_SECRET_KEY"])
    dvc("remote", "default", "--local", "team")
    print(f"team: {config.TEAM_ENV} points MLflow at {MLFLOW_URL} and the fits at Dask {DASK_SCHEDULER}; "
          "`dvc push`/`dvc pull` use the remote `team` (keys in .dvc/config.local)")  # fmt: skip
    registry = config.load_params(ROOT / "params.yaml", build_estimators=False).registry
    if (ROOT / config.REGISTRATION_FILE).exists() and champion_status(registry, settings) in (403, 404):
        print("team: this workspace registered its model in another store and the server has no champion yet: "
              "run `dvc repro --force` once to register it there")  # fmt: skip


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="team", description=__doc__.splitlines()[0])
    parser.add_argument("--project-name", help="compose project name (default: compose.yaml's)")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("up").add_argument("--replicas", type=int)
    commands.add_parser("down").add_argument("--volumes", action="store_true")
    commands.add_parser("env")
    arguments = parser.parse_args(argv)
    try:
        if arguments.command == "up":
            up(arguments.replicas, arguments.project_name)
        elif arguments.command == "down":
            down(arguments.volumes, arguments.project_name)
        else:
            env()
    except (TeamError, RuntimeError, config.ParamsError, subprocess.TimeoutExpired) as error:
        print(f"team: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
