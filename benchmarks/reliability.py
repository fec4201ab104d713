"""Load and fault harness for the server: gunicorn with the image's settings, on 127.0.0.1 only.

Every load is bounded in time; every process started here is stopped by its id. `make reliability`
runs it all (`python -m benchmarks.reliability`) and prints one table; tests/e2e/test_reliability.py asserts
the same figures against their thresholds.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchmarks.harness import REPO, WORKERS, gunicorn, wrk

RECORD = [39.1, 18.7, 181.0, 3750.0, "Torgersen", "male"]


def workers_of(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children")
    return [int(pid) for pid in children.read_text().split()] if children.exists() else []


def rss_kib(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return 0
    return int(re.search(r"VmRSS:\s+(\d+)", status)[1])


def lua_script(directory: Path) -> Path:
    """Alternate single-row and 100-row bodies, as valid requests."""
    single, batch = json.dumps(RECORD), json.dumps([RECORD] * 100)
    path = directory / "mixed.lua"
    path.write_text(
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        f"local bodies = {{{json.dumps(single)}, {json.dumps(batch)}}}\n"
        "local n = 0\n"
        "request = function()\n  n = n + 1\n  return wrk.format(nil, nil, nil, bodies[n % 2 + 1])\nend\n"
        "response = function(status, headers, body)\n"
        '  if status ~= 200 then io.write("NON-2XX " .. status .. " " .. body:sub(1, 200) .. "\\n") end\nend\n'
    )
    return path


def load(model_dir: Path, seconds: int = 60, connections: int = 64) -> dict[str, float]:
    """Sustained load; worker RSS sampled every second, compared between the first and the last 10 s."""
    with tempfile.TemporaryDirectory() as scratch, gunicorn(model_dir) as server:
        samples: list[int] = []
        done = threading.Event()

        def sample():
            while not done.wait(1.0):
                samples.append(sum(rss_kib(pid) for pid in workers_of(server.process.pid)))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            figures = wrk(f"{server.url}/predict", lua_script(Path(scratch)), seconds, connections)
        finally:
            done.set()
            sampler.join()
    first, last = statistics.mean(samples[:10]), statistics.mean(samples[-10:])
    figures.update(rss_first_mib=first / 1024, rss_last_mib=last / 1024, rss_growth=(last - first) / first)
    return figures


def kill_a_worker(model_dir: Path, seconds: int = 10, kill_after: float = 3.0) -> dict[str, float]:
    """Load for `seconds`; SIGKILL one worker `kill_after` seconds in; count failures and time the replacement.

    The replacement is over when a new worker says it is ready (gunicorn_conf.post_worker_init), i.e.
    has loaded the model: a fact read from the server, not inferred from throughput on a noisy machine.
    """
    with tempfile.TemporaryDirectory() as scratch, gunicorn(model_dir) as server:
        script = lua_script(Path(scratch))
        figures: dict = {}
        load = threading.Thread(target=lambda: figures.update(wrk(f"{server.url}/predict", script, seconds, 16)))
        load.start()
        time.sleep(kill_after)
        first = workers_of(server.process.pid)
        os.kill(first[0], signal.SIGKILL)
        killed_at, replaced_s = time.monotonic(), float("inf")
        while time.monotonic() - killed_at < seconds:
            ready = {int(pid) for pid in re.findall(r"worker (\d+) ready", server.log())}
            if ready - set(first):
                replaced_s = time.monotonic() - killed_at
                break
            time.sleep(0.02)
        load.join()
        now = workers_of(server.process.pid)
    failed = figures["non_2xx"] + figures["socket_errors"]
    return {
        "rps": figures["rps"],
        "requests": figures["requests"],
        "failed": failed,
        "failed_share": failed / max(figures["requests"], 1),
        "replaced_s": replaced_s,
        "workers_after": len(now),
    }


def sigterm_under_load(model_dir: Path, graceful_timeout: int = 10, in_flight: int = WORKERS) -> dict[str, float]:
    """Requests a worker is in the middle of when SIGTERM arrives must complete; the master must exit 0 in time.

    Each client sends its headers and half its body, so every worker is inside a request, SIGTERM goes
    to the master, then the clients send the rest and read their answers. (Connections still waiting in
    the listen queue, not yet accepted, are not in flight: gunicorn closes its socket on SIGTERM.)
    """
    body = json.dumps([RECORD] * 1000).encode()
    with gunicorn(model_dir, GRACEFUL_TIMEOUT=str(graceful_timeout)) as server:
        port = int(server.url.rsplit(":", 1)[1])
        head = (
            "POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        clients = []
        for _ in range(in_flight):
            client = socket.create_connection(("127.0.0.1", port), timeout=30)
            client.sendall(head + body[: len(body) // 2])
            clients.append(client)
        time.sleep(0.3)  # every worker has accepted a connection and waits for the rest of its body
        started = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        statuses = []
        for client in clients:
            with client:
                client.sendall(body[len(body) // 2 :])
                answer = b""
                while chunk := client.recv(65536):
                    answer += chunk
            statuses.append(int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/") else 0)
        code = server.process.wait(timeout=graceful_timeout + 10)
        stopped = time.monotonic() - started
    return {"exit_code": code, "stop_s": stopped, "completed": statuses.count(200), "in_flight": in_flight}


def fuzz() -> dict[str, float]:
    """Run the schemathesis and property tests; read the request count they print."""
    command = [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider",
               "tests/unit/mlserve/test_openapi_fuzz.py", "tests/unit/mlserve/test_fuzz.py"]  # fmt: skip
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=900)
    found = re.search(r"schemathesis: (\d+) requests, (\d+) server errors", result.stdout)
    return {
        "requests": int(found[1]) if found else 0,
        "server_errors": int(found[2]) if found else -1,
        "passed": float(result.returncode == 0),
    }


def table(figures: dict[str, dict[str, float]]) -> str:
    load_, kill, term, fuzzed = figures["load"], figures["kill"], figures["sigterm"], figures["fuzz"]
    kill_failed = f"{kill['failed']:.0f} of {kill['requests']:.0f} ({kill['failed_share']:.2%})"
    rss = f"{load_['rss_first_mib']:.1f} -> {load_['rss_last_mib']:.1f}"
    rows = [
        ("fuzz: schemathesis requests from /openapi.json", f"{fuzzed['requests']}", ">= 1000"),
        ("fuzz: 5xx responses", f"{fuzzed['server_errors']}", "0"),
        ("fuzz: conformance and property tests", "pass" if fuzzed["passed"] else "FAIL", "pass"),
        ("load: requests (60 s, 64 connections, 1- and 100-row bodies)", f"{load_['requests']:.0f}", ""),
        ("load: requests/s", f"{load_['rps']:.0f}", ""),
        ("load: non-2xx responses", f"{load_['non_2xx']:.0f}", "0"),
        ("load: socket errors", f"{load_['socket_errors']:.0f}", "0"),
        ("load: worker RSS, first 10 s -> last 10 s (MiB)", rss, ""),
        ("load: RSS growth", f"{load_['rss_growth']:+.1%}", "<= +10%"),
        ("worker SIGKILL: failed requests", kill_failed, "<= 1%"),
        ("worker SIGKILL: seconds until a new worker has loaded the model", f"{kill['replaced_s']:.2f}", "<= 5"),
        ("worker SIGKILL: workers afterwards", f"{kill['workers_after']}", f"{WORKERS}"),
        ("SIGTERM: in-flight requests completed", f"{term['completed']} of {term['in_flight']}", "all"),
        ("SIGTERM: exit code, seconds to stop", f"{term['exit_code']}, {term['stop_s']:.1f}", "0, <= 10"),
    ]
    lines = ["| figure | measured | threshold |", "|---|---:|---|"]
    lines += [f"| {name} | {value} | {threshold} |" for name, value, threshold in rows]
    return "\n".join(lines)


def main() -> int:
    model_dir = REPO / "models/serving"
    if not (model_dir / "manifest.json").exists():
        print("no bundle in models/serving/: run `make repro` first", file=sys.stderr)
        return 1
    figures = {
        "fuzz": fuzz(),
        "load": load(model_dir),
        "kill": kill_a_worker(model_dir),
        "sigterm": sigterm_under_load(model_dir),
    }
    print(table(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
