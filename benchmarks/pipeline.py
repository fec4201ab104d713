"""Wall time of a cold `dvc repro` (fresh clone: no outputs, no DVC cache, no MLflow store) and of a
no-op `dvc repro` right after it. Targets on a 2-core machine: cold <= 60 s, no-op <= 5 s."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGETS = {"cold": 60.0, "no-op": 5.0}


def timed(command: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> int:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as scratch:
        clone = Path(scratch) / "clone"
        subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True)
        figures = {"cold": timed(["dvc", "repro"], clone, env), "no-op": timed(["dvc", "repro"], clone, env)}
    print(f"`dvc repro` on {os.cpu_count()} cores, fresh clone of HEAD\n")
    print("| run | wall time (s) | target (s) | within |")
    print("|---|---:|---:|---|")
    for name, seconds in figures.items():
        print(f"| {name} | {seconds:.1f} | {TARGETS[name]:.0f} | {'yes' if seconds <= TARGETS[name] else 'NO'} |")
    return 0 if all(figures[n] <= TARGETS[n] for n in TARGETS) else 1


if __name__ == "__main__":
    sys.exit(main())
