"""Turnaround of the pipeline in a fresh clone (no outputs, no DVC cache, no MLflow store; the venv is
there): a cold `dvc repro`, a no-op `dvc repro` right after it, and a one-parameter `dvc exp run`; then each
stage run by hand, beside what importing its module alone costs. For the project as it is and, with
`EXAMPLES=all` (or names), each example, with the metrics the cold run wrote. Targets on a 2-core machine:
cold <= 20 s, no-op <= 2 s, the experiment <= 10 s."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from benchmarks.harness import cpu_name, venv_env

REPO = Path(__file__).resolve().parents[1]
TARGETS = {"cold": 20.0, "no-op": 2.0, "exp run": 10.0}


def timed(command: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def experiment(clone: Path) -> list[str]:
    """`dvc exp run` changing one number of the last step: n_estimators when it has one, else the seed."""
    steps = yaml.safe_load((clone / "params.yaml").read_text())["model"]["steps"]
    last, spec = list(steps.items())[-1]
    if "n_estimators" in (spec.get("params") or {}):
        return ["dvc", "exp", "run", "-S", f"model.steps.{last}.params.n_estimators=50"]
    return ["dvc", "exp", "run", "-S", "seed=43"]


def stage_times(clone: Path, env: dict[str, str]) -> dict[str, tuple[float, float]]:
    """Each stage's command by hand (wall time), and `import` of its module alone."""
    stages = yaml.safe_load((clone / "dvc.yaml").read_text())["stages"]
    found = {}
    for name, stage in stages.items():
        module = re.search(r"-m ([\w.]+)", stage["cmd"])[1]  # type: ignore[index]
        alone = dict(env, PYTHONPATH="src")
        found[name] = (
            timed([sys.executable, "-m", module], clone, alone),
            timed([sys.executable, "-c", f"import {module}"], clone, alone),
        )
    return found


def measure(example: str | None, env: dict[str, str]) -> tuple[dict[str, float], dict, dict]:
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as scratch:
        clone = Path(scratch) / "clone"
        subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True)
        if example:
            subprocess.run(["bash", "scripts/use-example.sh", example], cwd=clone, check=True, capture_output=True)
            subprocess.run(["git", "commit", "--quiet", "-am", "example"], cwd=clone, check=True, env=env)
        times = {"cold": timed(["dvc", "repro"], clone, env), "no-op": timed(["dvc", "repro"], clone, env)}
        metrics = json.loads((clone / "reports/metrics.json").read_text())
        times["exp run"] = timed(experiment(clone), clone, env)
        subprocess.run(["git", "checkout", "--quiet", "--", "."], cwd=clone, check=True)
        subprocess.run(["dvc", "checkout", "--quiet"], cwd=clone, check=True, env=env)
        return times, metrics, stage_times(clone, env)


def metrics_table(metrics: dict[str, dict]) -> list[str]:
    lines = ["| project | metric | cross-validated (mean ± sd) | test split |", "|---|---|---|---:|"]
    for project, figures in metrics.items():
        lines += [
            f"| {project} | {name} | {cv['mean']:.4f} ± {cv['std']:.4f} | {figures.get(name, float('nan')):.4f} |"
            for name, cv in figures["cv"].items()
        ]
    return lines


def main() -> int:
    env = {k: v for k, v in venv_env().items() if k not in ("MLFLOW_TRACKING_URI", "DASK_SCHEDULER_ADDRESS")}
    env.setdefault("GIT_AUTHOR_NAME", "bench")
    env.setdefault("GIT_AUTHOR_EMAIL", "bench@localhost")
    env.setdefault("GIT_COMMITTER_NAME", "bench")
    env.setdefault("GIT_COMMITTER_EMAIL", "bench@localhost")
    wanted = os.environ.get("EXAMPLES", "")
    examples = sorted(p.name for p in (REPO / "examples").iterdir()) if wanted == "all" else wanted.split()
    measured = {name or "HEAD as it is": measure(name, env) for name in [None, *examples]}
    print(f"Fresh clone of HEAD, {os.cpu_count()} cores, {cpu_name()}\n")
    print("| project | run | wall time (s) | target (s) | within |")
    print("|---|---|---:|---:|---|")
    for project, (runs, _, _) in measured.items():
        for run, seconds in runs.items():
            within = "yes" if seconds <= TARGETS[run] else "NO"
            print(f"| {project} | {run} | {seconds:.1f} | {TARGETS[run]:.0f} | {within} |")
    print("\n| project | stage | by hand (s) | of which importing its module (s) |")
    print("|---|---|---:|---:|")
    for project, (_, _, stages) in measured.items():
        for name, (wall, imports) in stages.items():
            print(f"| {project} | {name} | {wall:.2f} | {imports:.2f} |")
    print("\n" + "\n".join(metrics_table({project: metrics for project, (_, metrics, _) in measured.items()})))
    return 0 if all(runs[n] <= TARGETS[n] for runs, _, _ in measured.values() for n in TARGETS) else 1


if __name__ == "__main__":
    sys.exit(main())
