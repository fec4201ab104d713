"""Wall time of a cold `dvc repro` (fresh clone: no outputs, no DVC cache, no MLflow store) and of a
no-op `dvc repro` right after it, for the project as it is and for each example (`EXAMPLES=all`, or
names), with the metrics the cold run wrote: each task metric cross-validated (mean ± standard
deviation over the folds) and on the test split. Targets on a 2-core machine: cold <= 60 s, no-op <= 8 s
(the no-op run still asks the registry for its champion)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGETS = {"cold": 60.0, "no-op": 8.0}


def timed(command: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def measure(example: str | None, env: dict[str, str]) -> tuple[dict[str, float], dict]:
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as scratch:
        clone = Path(scratch) / "clone"
        subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True)
        if example:
            subprocess.run(["bash", "scripts/use-example.sh", example], cwd=clone, check=True, capture_output=True)
        times = {"cold": timed(["dvc", "repro"], clone, env), "no-op": timed(["dvc", "repro"], clone, env)}
        return times, json.loads((clone / "reports/metrics.json").read_text())


def metrics_table(metrics: dict[str, dict]) -> list[str]:
    lines = ["| project | metric | cross-validated (mean ± sd) | test split |", "|---|---|---|---:|"]
    for project, figures in metrics.items():
        lines += [
            f"| {project} | {name} | {cv['mean']:.4f} ± {cv['std']:.4f} | {figures.get(name, float('nan')):.4f} |"
            for name, cv in figures["cv"].items()
        ]
    return lines


def main() -> int:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    wanted = os.environ.get("EXAMPLES", "")
    examples = sorted(p.name for p in (REPO / "examples").iterdir()) if wanted == "all" else wanted.split()
    measured = {name or "HEAD as it is": measure(name, env) for name in [None, *examples]}
    figures = {project: times for project, (times, _) in measured.items()}
    print(f"`dvc repro` on {os.cpu_count()} cores, fresh clone of HEAD\n")
    print("| project | run | wall time (s) | target (s) | within |")
    print("|---|---|---:|---:|---|")
    for project, runs in figures.items():
        for run, seconds in runs.items():
            within = "yes" if seconds <= TARGETS[run] else "NO"
            print(f"| {project} | {run} | {seconds:.1f} | {TARGETS[run]:.0f} | {within} |")
    print("\n" + "\n".join(metrics_table({project: metrics for project, (_, metrics) in measured.items()})))
    return 0 if all(runs[n] <= TARGETS[n] for runs in figures.values() for n in TARGETS) else 1


if __name__ == "__main__":
    sys.exit(main())
