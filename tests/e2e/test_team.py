"""The team stack of compose.yaml, for real: built here, started, used by the project, hurt, and torn down.

One stack (its own compose project name, so its containers and volumes are its own) serves every test of
this module, in order: the project registers on the server and the replicas serve its champion; a fresh
clone pulls what the pipeline made; anonymous and wrong credentials are refused; a replica killed under
load costs no request; PostgreSQL stopped during `register` and S3 stopped during `dvc push` lose nothing.
Traffic goes to 127.0.0.1 only; every load is bounded; the stack goes down (volumes too) even on failure.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml

from benchmarks.harness import free_port, wrk
from benchmarks.reliability import lua_script
from mlproject import compute, config
from scripts.containers import find_engine
from scripts.team import dask_tls_pair
from tests.helpers import VENV_BIN, Project, copy_project, dvc_md5, project_env

pytestmark = pytest.mark.slow

PROJECT_NAME = f"mlproject-team-test-{os.getpid()}"
MLFLOW, S3, BALANCER = "http://127.0.0.1:5050", "http://127.0.0.1:8333", "http://127.0.0.1:8080"
PORTS = {5050: "MLflow", 8080: "NGINX", 8333: "S3", 8786: "Dask", 8787: "Dask's dashboard"}
DASHBOARD = "http://127.0.0.1:8787"
FIGURES: dict[str, object] = {}


def request(url: str, auth: tuple[str, str] | None = None, body: dict | None = None, timeout: float = 10):
    """(status, parsed JSON or raw bytes) of a GET, or a POST when there is a body."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if auth:
        headers["Authorization"] = "Basic " + base64.b64encode(":".join(auth).encode()).decode()
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data, headers), timeout=timeout) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    except (urllib.error.URLError, OSError):
        return 0, b""
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw


def wait_for(what: str, ready, seconds: float = 120) -> float:
    started = time.monotonic()
    while not ready():
        if time.monotonic() - started > seconds:
            raise AssertionError(f"{what} did not happen within {seconds} s")
        time.sleep(0.5)
    return time.monotonic() - started


def md5s_against_lock(project: Project, prefixes: tuple[str, ...] = ("data/", "models/")) -> dict[str, tuple]:
    """Every output of dvc.lock under `prefixes`: (md5 dvc.lock records, md5 of the file or folder on disk)."""
    found = {}
    for stage in project.lock()["stages"].values():
        for out in stage.get("outs", []):
            if out["path"].startswith(prefixes):
                found[out["path"]] = (out["md5"], dvc_md5(project.root / out["path"]))
    return found


def pulled_clone(project: Project, where: Path) -> tuple[Project, dict[str, tuple]]:
    """A teammate's clone: `git clone`, the stack's env file, `make team-env`'s work, `dvc pull`; every
    data and model file must then have the md5 dvc.lock records."""
    clone = Project(where)
    subprocess.run(["git", "clone", "-q", str(project.root), str(clone.root)], check=True)
    (clone.root / "deploy/stack.env").write_bytes((project.root / "deploy/stack.env").read_bytes())
    clone.run("python", "-m", "scripts.team", "env")
    clone.run("dvc", "pull")
    md5s = md5s_against_lock(clone)
    assert md5s and not {path: pair for path, pair in md5s.items() if pair[0] != pair[1]}
    return clone, md5s


class TeamStack:
    def __init__(self, project: Project):
        self.project = project
        self.engine = find_engine(Path(tempfile.mkdtemp(prefix="team-engine-")))
        self.settings: dict[str, str] = {}

    def team(self, *args: str, timeout: float = 1800) -> subprocess.CompletedProcess:
        return self.project.run("python", "-m", "scripts.team", "--project-name", PROJECT_NAME, *args,
                                timeout=timeout)  # fmt: skip

    def containers(self, service: str | None = None) -> list[dict]:
        filters = ["--filter", f"label=com.docker.compose.project={PROJECT_NAME}"]
        if service:
            filters += ["--filter", f"label=com.docker.compose.service={service}"]
        listed = self.engine.run("ps", "--all", *filters, "--format", "json").stdout
        return json.loads(listed or "[]")

    def container(self, service: str) -> str:
        (found,) = [c["Id"] for c in self.containers(service)]
        return found

    def inspect(self, container: str) -> dict:
        return json.loads(self.engine.run("inspect", container).stdout)[0]

    @property
    def s3_keys(self) -> tuple[str, str]:
        return self.settings["S3_ACCESS_KEY"], self.settings["S3_SECRET_KEY"]

    @property
    def admin(self) -> tuple[str, str]:
        return "admin", self.settings["MLFLOW_ADMIN_PASSWORD"]

    @property
    def registry(self) -> config.RegistryParams:
        return config.load_params(self.project.root / "params.yaml", build_estimators=False).registry

    def champion_version(self) -> str:
        registry = self.registry
        query = urllib.parse.urlencode({"name": registry.model_name, "alias": registry.champion_alias})
        status, found = request(f"{MLFLOW}/api/2.0/mlflow/registered-models/alias?{query}", self.admin)
        assert status == 200, found
        return found["model_version"]["version"]

    def versions(self) -> list[str]:
        query = urllib.parse.urlencode({"filter": f"name='{self.registry.model_name}'", "max_results": 1000})
        status, found = request(f"{MLFLOW}/api/2.0/mlflow/model-versions/search?{query}", self.admin)
        assert status == 200, found
        return sorted(version["version"] for version in found.get("model_versions", []))

    def served_version(self) -> int | None:
        status, found = request(f"{BALANCER}/metadata")
        return found["model_version"] if status == 200 else None


def s3_client(key: str, secret: str):
    import botocore.session

    return botocore.session.get_session().create_client(
        "s3", endpoint_url=S3, region_name="us-east-1", aws_access_key_id=key, aws_secret_access_key=secret
    )


def ports_in_use() -> list[str]:
    taken = []
    for port, what in PORTS.items():
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                taken.append(f"{port} ({what})")
    return taken


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    taken = ports_in_use()
    assert not taken, f"ports {', '.join(taken)} are in use: stop the running team stack first (`make team-down`)"
    project = copy_project(tmp_path_factory.mktemp("team") / "project")
    stack = TeamStack(project)
    try:
        started = time.perf_counter()
        up = stack.team("up")
        FIGURES["team-up (s)"] = round(time.perf_counter() - started, 1)
        FIGURES["team-up says"] = up.stdout.strip().splitlines()[-1]
        stack.settings = config.read_env_file(project.root / "deploy/stack.env")
        stack.team("env")
        started = time.perf_counter()
        project.run("dvc", "repro")
        FIGURES["dvc repro against the stack (s)"] = round(time.perf_counter() - started, 1)
        waited = wait_for("the replicas serving the champion", lambda: stack.served_version() is not None, 120)
        FIGURES["replicas serving after the first champion (s)"] = round(waited, 1)
        yield stack
    finally:
        if (project.root / "deploy/stack.env").exists():
            stack.team("down", "--volumes", timeout=300)
        print("\nteam stack figures:", json.dumps(FIGURES, indent=2))


def test_the_project_registers_on_the_server_and_the_replicas_serve_its_champion(stack):
    project = stack.project
    assert not (project.root / "mlruns").exists() and not (project.root / "mlflow.db").exists()
    champion = stack.champion_version()
    assert str(stack.served_version()) == champion
    manifest = json.loads((project.root / "models/serving/manifest.json").read_text())
    assert manifest["model_version"] == int(champion)
    registration = json.loads((project.root / "reports/registration.json").read_text())
    assert registration["version"] == int(champion)
    artifacts = [item["Key"] for item in s3_client(*stack.s3_keys).list_objects_v2(Bucket="mlflow")["Contents"]]
    assert any(key.endswith("/artifacts/serving/model.onnx") for key in artifacts), artifacts  # in S3, not mlruns/
    assert project.run("git", "status", "--porcelain").stdout == ""


def test_a_fresh_clone_pulls_byte_identical_data_and_models_and_reproduces_nothing(stack, tmp_path):
    project = stack.project
    pushed = project.run("dvc", "push")
    assert "pushed" in pushed.stdout + pushed.stderr
    clone, md5s = pulled_clone(project, tmp_path / "clone")
    again = clone.run("dvc", "repro")
    ran = [line for line in again.stdout.splitlines() if line.startswith("Running stage")]
    assert ran == ["Running stage 'champion':"], again.stdout  # the one stage that always asks the registry
    assert md5s_against_lock(clone) == md5s
    assert clone.run("git", "status", "--porcelain").stdout == ""


def test_anonymous_users_and_wrong_keys_are_refused_and_nothing_runs_as_root(stack, monkeypatch):
    from botocore.exceptions import ClientError

    assert request(f"{MLFLOW}/api/2.0/mlflow/experiments/search?max_results=1")[0] == 401
    assert request(f"{MLFLOW}/api/2.0/mlflow/experiments/create", body={"name": "intruder"})[0] == 401
    serving = ("serving", stack.settings["SERVING_PASSWORD"])
    assert request(f"{MLFLOW}/api/2.0/mlflow/experiments/search?max_results=1", serving)[0] == 200
    # the replicas' user reads what the project wrote, and changes none of it
    registry = stack.registry
    alias = {"name": registry.model_name, "alias": registry.champion_alias, "version": "1"}
    assert request(f"{MLFLOW}/api/2.0/mlflow/registered-models/alias", serving, alias)[0] == 403
    status, found = request(f"{MLFLOW}/api/2.0/mlflow/experiments/get-by-name?experiment_name="
                            f"{registry.experiment_name}", serving)  # fmt: skip
    assert status == 200
    run = {"experiment_id": found["experiment"]["experiment_id"]}
    assert request(f"{MLFLOW}/api/2.0/mlflow/runs/create", serving, run)[0] == 403
    assert request(f"{MLFLOW}/health")[0] == 200

    assert s3_client(*stack.s3_keys).list_objects_v2(Bucket="dvc")["KeyCount"] > 0
    for key, secret in ((stack.s3_keys[0], "wrong-secret"), ("wrong-key", "wrong-secret")):
        with pytest.raises(ClientError) as refused:
            s3_client(key, secret).list_objects_v2(Bucket="dvc")
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403

    # the Dask scheduler lets in only TLS clients holding the stack's key: not plain TCP, not another key
    monkeypatch.setenv("DASK_TLS_KEY", stack.settings["DASK_TLS_KEY"])
    monkeypatch.setenv("DASK_TLS_CERT", stack.settings["DASK_TLS_CERT"])
    with compute.dask_cluster("tls://127.0.0.1:8786") as client:
        assert len(client.scheduler_info()["workers"]) == 2
    with (
        pytest.raises(compute.ComputeError, match="refused the connection"),
        compute.dask_cluster("tcp://127.0.0.1:8786"),
    ):
        pass
    for name, value in dask_tls_pair().items():
        monkeypatch.setenv(name, value)
    with (
        pytest.raises(compute.ComputeError, match="refused the connection"),
        compute.dask_cluster("tls://127.0.0.1:8786"),
    ):
        pass

    published = {}
    for container in stack.containers():
        details = stack.inspect(container["Id"])
        service = details["Config"]["Labels"]["com.docker.compose.service"]
        ports = details["NetworkSettings"]["Ports"] or {}
        published.setdefault(service, set()).update(
            f"{binding['HostIp']}:{binding['HostPort']}" for bindings in ports.values() for binding in bindings or []
        )
        users = stack.engine.run("top", container["Id"], "user").stdout.split()[1:]
        assert users and "root" not in users, f"{service} runs processes as {users}"
        if service == "serve":
            assert set(details["NetworkSettings"]["Networks"]) == {f"{PROJECT_NAME}_frontend"}
        if service == "dask-worker":
            assert set(details["NetworkSettings"]["Networks"]) == {f"{PROJECT_NAME}_compute"}
    assert published == {"db": set(), "s3": {"127.0.0.1:8333"}, "mlflow": {"127.0.0.1:5050"}, "serve": set(),
                         "nginx": {"127.0.0.1:8080"}, "dask-scheduler": {"127.0.0.1:8786", "127.0.0.1:8787"},
                         "dask-worker": set()}  # fmt: skip


@pytest.mark.penguins
def test_a_replica_killed_under_load_costs_no_request_and_rejoins(stack, tmp_path):
    script = lua_script(tmp_path)
    victim = stack.containers("serve")[0]["Id"]
    figures: dict = {}

    load = threading.Thread(target=lambda: figures.update(wrk(f"{BALANCER}/predict", script, 12, 16)))
    load.start()
    time.sleep(4)
    killed = time.monotonic()
    os.kill(stack.inspect(victim)["State"]["Pid"], signal.SIGKILL)  # a crash: not `kill`, which means "stop it"
    load.join(timeout=60)
    FIGURES["kill a replica under load"] = {k: figures.get(k) for k in ("requests", "rps", "p99_ms", "non_2xx",
                                                                         "socket_errors")}  # fmt: skip
    assert figures["requests"] > 100
    assert figures["non_2xx"] == 0 and figures["socket_errors"] == 0, (
        f"{figures['non_2xx']} non-2xx {figures['unexpected']}, socket errors {figures['socket_error_kinds']}"
    )

    # the restart policy brings it back; the balancer sees its (new) address and sends it requests again
    wait_for("the killed replica to run again", lambda: stack.inspect(victim)["State"]["Running"], 60)
    network = f"{PROJECT_NAME}_frontend"
    address = stack.inspect(victim)["NetworkSettings"]["Networks"][network]["IPAddress"]
    balancer = stack.container("nginx")

    def answered_by_it() -> bool:
        for _ in range(4):
            request(f"{BALANCER}/ready")
        log = stack.engine.run("logs", "--since", "15s", balancer, check=False)
        return f"upstream={address}:8000 upstream_status=200" in log.stdout + log.stderr

    wait_for("the restarted replica to answer through NGINX", answered_by_it, 90)
    FIGURES["replica answering through NGINX again, checked after the load, since the SIGKILL (s)"] = round(
        time.monotonic() - killed, 1
    )


@pytest.mark.penguins
def test_throughput_through_nginx_against_one_replica_directly(stack, tmp_path):
    """Two replicas behind NGINX against one replica on a published port, side by side, same load."""
    script = lua_script(tmp_path)
    port = free_port()
    replica = stack.inspect(stack.containers("serve")[0]["Id"])
    image, env = replica["ImageName"], replica["Config"]["Env"]
    keep = [f"--env={pair}" for pair in env if pair.split("=")[0] in
            ("CHAMPION_URI", "MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD",
             "MODEL_DIR")]  # fmt: skip
    direct = stack.engine.run("run", "--detach", "--network", f"{PROJECT_NAME}_frontend", "--publish",
                              f"127.0.0.1:{port}:8000", *keep, image).stdout.strip()  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for("the directly published replica", lambda: request(f"{url}/ready")[0] == 200, 120)
        rates: dict[str, list[float]] = {"nginx": [], "direct": []}
        for _ in range(2):
            rates["nginx"].append(wrk(f"{BALANCER}/predict", script, 6, 16)["rps"])
            rates["direct"].append(wrk(f"{url}/predict", script, 6, 16)["rps"])
        ratio = sum(rates["nginx"]) / sum(rates["direct"])
        FIGURES["requests/s through NGINX (2 replicas) vs one replica directly"] = {
            **{k: [round(v) for v in vs] for k, vs in rates.items()}, "ratio": round(ratio, 2)}  # fmt: skip
        print(f"\nthroughput ratio NGINX (2 replicas) / one replica directly: {ratio:.2f} {rates}")
        assert ratio > 0.5  # on 2 cores the replicas share the CPUs: the figure is reported, not a target
    finally:
        stack.engine.run("rm", "--force", direct, check=False)


def test_postgres_stopped_during_register_loses_nothing(stack):
    project = stack.project
    project.set_param("model.steps.classify.params.n_estimators", 150)
    before = {"lock": project.lock()["stages"]["register"], "versions": stack.versions(),
              "registration": (project.root / "reports/registration.json").read_bytes()}  # fmt: skip
    database = stack.container("db")
    repro = subprocess.Popen(["dvc", "repro"], cwd=project.root, env=project_env(), stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)  # fmt: skip
    output = []
    try:
        for line in repro.stdout:
            output.append(line)
            if line.startswith("Running stage 'register'"):
                stack.engine.run("stop", "--time", "5", database)
                break
        output.extend(repro.stdout)
        repro.wait(timeout=300)
    finally:
        if repro.poll() is None:
            repro.kill()
        stack.engine.run("start", database)
    text = "".join(output)
    assert repro.returncode != 0, text
    failures = [line for line in text.splitlines() if line.startswith("register: ")]
    assert len(failures) == 1 and "MLflow failed while" in failures[0], text
    FIGURES["register with PostgreSQL stopped says"] = failures[0]
    assert project.lock()["stages"]["register"] == before["lock"]
    assert (project.root / "reports/registration.json").read_bytes() == before["registration"]

    wait_for("MLflow to answer again", lambda: request(f"{MLFLOW}/api/2.0/mlflow/model-versions/search?"
                                                       "max_results=1", stack.admin)[0] == 200, 120)  # fmt: skip
    assert stack.versions() == before["versions"]  # no half-registered version
    project.run("dvc", "repro")
    assert len(stack.versions()) == len(before["versions"]) + 1
    project.run("git", "add", "-A")
    project.run("git", "commit", "-q", "-m", "150 trees")


def test_s3_stopped_during_push_loses_nothing(stack, tmp_path):
    project = stack.project
    store = stack.container("s3")
    stack.engine.run("stop", "--time", "5", store)
    try:
        started = time.perf_counter()
        refused = project.run("dvc", "push", check=False, timeout=300)
        FIGURES["dvc push with S3 stopped fails after (s)"] = round(time.perf_counter() - started, 1)
    finally:
        stack.engine.run("start", store)
    assert refused.returncode != 0
    errors = [line for line in refused.stderr.splitlines() if line.startswith("ERROR")]
    assert len(errors) == 1 and "127.0.0.1:8333" in errors[0], refused.stderr  # names the store it cannot reach
    FIGURES["dvc push with S3 stopped says"] = errors[0][:200]

    wait_for("S3 to answer again", lambda: request(S3)[0] in (200, 403), 120)
    project.run("dvc", "push")
    clone, _ = pulled_clone(project, tmp_path / "clone")
    assert yaml.safe_load((clone.root / "params.yaml").read_text())["model"]["steps"]["classify"]["params"][
        "n_estimators"] == 150  # fmt: skip


def searching_copy(stack: TeamStack, where: Path, seed: int | None = None) -> Project:
    """A copy of the stack's project (its data, and team.env: MLflow on the server, fits on the cluster)
    that declares a small search; with another seed (folds and sampler) for `python -m mlproject.tune`."""
    shutil.copytree(stack.project.root, where, symlinks=True)
    project = Project(where)
    if seed is not None:  # prepare's too: a `dvc repro` would split the data anew
        project.set_param("seed", seed)
    project.set_param("evaluation", {"folds": 3, "repeats": 1})
    project.set_param("tuning", {"method": "tpe", "trials": 8, "batch": 4, "metric": None})
    project.set_param(
        "model.steps.classify.search", {"n_estimators": {"int": [5, 40]}, "min_samples_leaf": {"choice": [1, 3, 6]}}
    )
    return project


def tune(project: Project, where: str = "cluster") -> subprocess.Popen:
    """The tune stage, on the team's cluster (team.env names it) or on local processes."""
    local = {"DASK_SCHEDULER_ADDRESS": ""} if where == "local" else {}
    return subprocess.Popen([str(VENV_BIN / "python"), "-m", "mlproject.tune"], cwd=project.root,
                            env=project_env(PYTHONPATH="src", **local), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)  # fmt: skip


def searched(stack: TeamStack, project: Project, process: subprocess.Popen) -> tuple[bytes, dict]:
    """What a finished search left: the tuned file's bytes, and each trial's params and metrics as the team's
    MLflow server holds them (the search's run named after the experiment, the latest of that name)."""
    output, _ = process.communicate(timeout=600)
    assert process.returncode == 0, output
    experiment = project.params().registry.experiment_name
    status, found = request(f"{MLFLOW}/api/2.0/mlflow/experiments/get-by-name?experiment_name={experiment}",
                            stack.admin)  # fmt: skip
    assert status == 200, found
    ids = [found["experiment"]["experiment_id"]]

    def runs(filter_string: str) -> list[dict]:
        body = {"experiment_ids": ids, "filter": filter_string, "max_results": 1000,
                "order_by": ["attributes.start_time DESC"]}  # fmt: skip
        status, found = request(f"{MLFLOW}/api/2.0/mlflow/runs/search", stack.admin, body)
        assert status == 200, found
        return found.get("runs", [])

    parent = runs(f"tags.stage = 'tune' and tags.seed = '{project.params().seed}'")[0]
    assert parent["info"]["status"] == "FINISHED"
    trials = {
        run["info"]["run_name"]: (
            sorted((p["key"], p["value"]) for p in run["data"].get("params", [])),
            sorted((m["key"], m["value"]) for m in run["data"].get("metrics", [])),
        )
        for run in runs(f"tags.mlflow.parentRunId = '{parent['info']['run_id']}'")
    }
    assert len(trials) == 9  # the hand-set params and 8 trials
    return (project.root / "models/tuned.yaml").read_bytes(), trials


def cluster_counts() -> dict:
    status, found = request(f"{DASHBOARD}/json/counts.json")
    return found if status == 200 else {}


def test_a_search_on_the_cluster_equals_the_local_one_even_with_a_worker_killed_midway(stack, tmp_path):
    project = searching_copy(stack, tmp_path / "search", seed=11)
    started = time.perf_counter()
    local = searched(stack, project, tune(project, "local"))
    FIGURES["8-trial search, 2 local processes (s)"] = round(time.perf_counter() - started, 1)
    started = time.perf_counter()
    assert searched(stack, project, tune(project)) == local
    FIGURES["8-trial search, the 2-worker cluster (s)"] = round(time.perf_counter() - started, 1)

    victim = stack.containers("dask-worker")[0]["Id"]
    running = tune(project)
    wait_for("the cluster to be fitting", lambda: cluster_counts().get("processing", 0) > 0, 120)
    os.kill(stack.inspect(victim)["State"]["Pid"], signal.SIGKILL)  # a crash: the worker's tasks are lost
    assert searched(stack, project, running) == local  # Dask ran the lost tasks again
    wait_for("the killed worker to join again", lambda: cluster_counts().get("workers") == 2, 120)


def test_two_searches_at_once_on_the_cluster_keep_their_own_results(stack, tmp_path):
    first, second = searching_copy(stack, tmp_path / "a", seed=21), searching_copy(stack, tmp_path / "b", seed=22)
    alone = {seed: searched(stack, project, tune(project, "local")) for seed, project in ((21, first), (22, second))}
    assert alone[21] != alone[22]
    running = [tune(first), tune(second)]  # both on the cluster at once
    assert searched(stack, first, running[0]) == alone[21]
    assert searched(stack, second, running[1]) == alone[22]


def test_the_scheduler_down_when_tune_starts_is_said_in_one_line_and_nothing_is_half_written(stack, tmp_path):
    project = searching_copy(stack, tmp_path / "down")
    before = {
        "lock": (project.root / "dvc.lock").read_bytes(),
        "tuned": (project.root / "models/tuned.yaml").read_bytes(),
    }
    scheduler = stack.container("dask-scheduler")
    stack.engine.run("stop", "--time", "5", scheduler)
    try:
        result = project.run("dvc", "repro", "tune", check=False, timeout=300)
    finally:
        stack.engine.run("start", scheduler)
    assert result.returncode != 0
    said = [line for line in result.stderr.splitlines() if line.startswith("tune: ")]
    assert said == [said[0]] and "the Dask scheduler at tls://127.0.0.1:8786 does not answer" in said[0], result.stderr
    FIGURES["tune with the scheduler stopped says"] = said[0]
    assert (project.root / "dvc.lock").read_bytes() == before["lock"]
    assert (project.root / "models/tuned.yaml").read_bytes() == before["tuned"]
    seed = project.params().seed  # the other tests' searches have seeds of their own
    body = {"experiment_ids": [], "filter": f"tags.stage = 'tune' and tags.seed = '{seed}'", "max_results": 10}
    status, found = request(f"{MLFLOW}/api/2.0/mlflow/experiments/get-by-name?experiment_name="
                            f"{project.params().registry.experiment_name}", stack.admin)  # fmt: skip
    body["experiment_ids"] = [found["experiment"]["experiment_id"]]
    status, found = request(f"{MLFLOW}/api/2.0/mlflow/runs/search", stack.admin, body)
    assert [run["info"]["status"] for run in found["runs"]] == ["FAILED"]
    wait_for("the workers to join the restarted scheduler", lambda: cluster_counts().get("workers") == 2, 180)


def test_team_down_keeps_the_data_and_team_up_serves_the_same_champion_again(stack):
    champion = stack.champion_version()
    stack.team("down")
    assert stack.containers() == []
    volumes = stack.engine.run("volume", "ls", "--format", "{{.Name}}").stdout.split()
    assert {f"{PROJECT_NAME}_db-data", f"{PROJECT_NAME}_s3-data"} <= set(volumes)
    started = time.perf_counter()
    stack.team("up")
    FIGURES["team-up again on the kept volumes (s)"] = round(time.perf_counter() - started, 1)
    assert stack.champion_version() == champion
    wait_for("the replicas serving the kept champion", lambda: stack.served_version() is not None, 120)
    assert str(stack.served_version()) == champion
