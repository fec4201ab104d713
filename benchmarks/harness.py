"""Servers on 127.0.0.1 for the benchmarks, the reliability harness and the server tests, and load from wrk.

gunicorn runs with the image's settings. Every server is started in a process group of its own and
stopped by it (SIGTERM, then SIGKILL), so no worker outlives a run; every wrk run is bounded in time.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
WORKERS = 2
# the single-row request of the serving benchmark
RECORD = {"bill_length_mm": 39.1, "bill_depth_mm": 18.7, "flipper_length_mm": 181.0, "body_mass_g": 3750.0,
          "island": "Torgersen", "sex": "male"}  # fmt: skip


def cpu_name() -> str:
    """The CPU's model name, which every printed figure should carry: machines of one kind differ."""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def venv_env(**settings: str) -> dict[str, str]:
    """This environment with the project's venv first on PATH, as after `source .venv/bin/activate`."""
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", **settings}


def image_env(model_dir: Path, port: int, **settings: str) -> dict[str, str]:
    """The environment the image gives gunicorn (src/mlserve/gunicorn_conf.py), bound to 127.0.0.1:port."""
    image = {"MODEL_DIR": str(model_dir), "HOST": "127.0.0.1", "PORT": str(port), "WORKERS": str(WORKERS),
             "THREADS": "1", "WORKER_TMP_DIR": "/dev/shm"}  # fmt: skip
    return venv_env(**{**image, **settings})


def gunicorn_command(*app: str) -> list[str]:
    """gunicorn with the image's configuration; an app spec given here replaces the model server."""
    return [str(BIN / "gunicorn"), "--config", str(REPO / "src/mlserve/gunicorn_conf.py"), *app]


@dataclass
class Server:
    """A running server: its process, its base URL and what it has printed so far."""

    process: subprocess.Popen
    url: str
    output: Path

    def log(self) -> str:
        """Read through a handle of its own: seeking the server's (shared offset) would misplace its writes."""
        return self.output.read_bytes().decode(errors="replace")


@contextmanager
def running(
    command: list[str], url: str, ready_path: str, env: dict[str, str], timeout: float = 90, cwd: Path = REPO
) -> Iterator[Server]:
    """Start a server, yield it once `url + ready_path` answers 200, stop its process group afterwards."""
    with tempfile.TemporaryDirectory(prefix="server-") as scratch, (Path(scratch) / "log").open("ab") as output:
        process = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
        server = Server(process, url, Path(scratch) / "log")
        try:
            _wait_until_ready(server, url + ready_path, timeout)
            yield server
        finally:
            _stop(process, grace=int(env.get("GRACEFUL_TIMEOUT", "20")) + 10)


@contextmanager
def gunicorn(model_dir: Path, *app: str, **settings: str) -> Iterator[Server]:
    """The model server (or `app`) on a free port."""
    port = free_port()
    env = image_env(model_dir, port, **settings)
    with running(gunicorn_command(*app), f"http://127.0.0.1:{port}", "/ready", env) as server:
        yield server


def _wait_until_ready(server: Server, ready_url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.process.args[0]} exited early:\n{server.log()[-2000:]}")
        try:
            with urllib.request.urlopen(ready_url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{ready_url} not ready after {timeout} s")


def _stop(process: subprocess.Popen, grace: float) -> None:
    """SIGTERM to the whole group (a master that already left may leave children), SIGKILL after `grace` s."""
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def wrk(url: str, script: Path, seconds: float, connections: int) -> dict:
    """One bounded wrk run (2 threads): its rates, latencies, errors, and the lines the script printed."""
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s", "--latency", "-s", str(script)]
    output = subprocess.run([*command, url], capture_output=True, text=True, check=True, timeout=seconds + 60).stdout
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    kinds = (
        dict(zip(("connect", "read", "write", "timeout"), map(int, sockets.groups()), strict=True)) if sockets else {}
    )
    return {
        "requests": int(re.search(r"(\d+) requests in", output)[1]),
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output)[1]),
        "p50_ms": _latency_ms(output, "50%"),
        "p99_ms": _latency_ms(output, "99%"),
        "non_2xx": int(non_2xx[1]) if non_2xx else 0,
        "socket_errors": sum(kinds.values()),
        "socket_error_kinds": kinds,
        "unexpected": sorted(set(re.findall(r"NON-2XX (.*)", output)))[:5],
    }


def _latency_ms(output: str, percentile: str) -> float:
    value, unit = re.search(rf"{percentile}\s+([\d.]+)(us|ms|s)\b", output).groups()
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]
