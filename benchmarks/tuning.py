"""The tune stage's methods side by side: the best cross-validated score grid, random and TPE find in the same
number of trials (each trial is the same number of fits), on the default example and others, beside the
hand-set params; then the wall time of one search on local processes and, with DASK_SCHEDULER_ADDRESS set
(`make team-up`), on the team's Dask cluster. `TRIALS` (default 30) sets the comparison's trials; the timed
search is the default example's with `TIMED_TRIALS` (default 50).

    python -m benchmarks.tuning
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

import yaml

from benchmarks.harness import cpu_name, venv_env

REPO = Path(__file__).resolve().parents[1]
METHODS = ("grid", "random", "tpe")
# A search space per example, for its own estimator (the step names are the example's).
SEARCHES = {
    "penguins": {"classify": {"n_estimators": {"int": [10, 300]}, "max_depth": {"choice": [None, 2, 3, 5, 8]},
                              "min_samples_leaf": {"int": [1, 20]}, "max_features": {"choice": ["sqrt", None]}}},
    "wine": {"classify": {"C": {"float": [0.0001, 100.0], "log": True},
                          "class_weight": {"choice": [None, "balanced"]}}},
    "diabetes": {"select": {"k": {"int": [1, 10]}}},
}  # fmt: skip
SUMMARY = re.compile(r"best cross-validated (\w+) (-?[\d.]+) ± ([\d.]+) \(hand-set (-?[\d.]+)\)")


def project_for(example: str, scratch: Path) -> Path:
    """A clone of this repository switched to the example, its training split prepared."""
    root = scratch / example
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(root)], check=True)
    subprocess.run(["bash", "scripts/use-example.sh", example], cwd=root, check=True, capture_output=True)
    subprocess.run(["dvc", "repro", "prepare"], cwd=root, check=True, env=environment(root), capture_output=True)
    return root


def environment(root: Path, **extra: str) -> dict[str, str]:
    """The venv's, with the clone's own code and the project's own MLflow store."""
    env = venv_env(PYTHONPATH=str(root / "src"), **extra)
    env.pop("MLFLOW_TRACKING_URI", None)
    return env


class Found(NamedTuple):
    metric: str
    best: float
    spread: float
    hand_set: float
    seconds: float


def search(root: Path, example: str, method: str, trials: int, **extra: str) -> Found:
    """One tune run of the example's search with `method`: what it found, and its wall time."""
    params = yaml.safe_load((root / "params.yaml").read_text())
    for step, spaces in SEARCHES[example].items():
        params["model"]["steps"][step]["search"] = spaces
    params["tuning"] = {"method": method, "trials": trials, "batch": 8, "metric": None}
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "mlproject.tune"], cwd=root, env=environment(root, **extra),
                          capture_output=True, text=True)  # fmt: skip
    seconds = time.perf_counter() - started
    found = SUMMARY.search(done.stdout)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"tune failed on {example} ({method}): {done.stderr.strip() or done.stdout.strip()}")
    return Found(found[1], float(found[2]), float(found[3]), float(found[4]), seconds)


def main() -> int:
    trials, timed_trials = int(os.environ.get("TRIALS", "30")), int(os.environ.get("TIMED_TRIALS", "50"))
    print(f"Tuning methods at {trials} trials each; {os.cpu_count()} cores, {cpu_name()}\n")
    print("| example | metric | hand-set | grid | random | tpe | wall time grid / random / tpe (s) |")
    print("|---|---|---:|---:|---:|---:|---|")
    with tempfile.TemporaryDirectory(prefix="bench-tuning-") as scratch:
        roots = {example: project_for(example, Path(scratch)) for example in SEARCHES}
        for example, root in roots.items():
            results = {method: search(root, example, method, trials) for method in METHODS}
            best = " | ".join(f"{results[m].best:.4f} ± {results[m].spread:.4f}" for m in METHODS)
            times = " / ".join(f"{results[m].seconds:.0f}" for m in METHODS)
            print(f"| {example} | {results['tpe'].metric} | {results['tpe'].hand_set:.4f} | {best} | {times} |")
        print(f"\nOne {timed_trials}-trial TPE search on penguins (batches of 8)\n")
        print("| where | wall time (s) | best |")
        print("|---|---:|---|")
        places = {"local processes": {"DASK_SCHEDULER_ADDRESS": ""}}
        if os.environ.get("DASK_SCHEDULER_ADDRESS"):
            places[f"Dask at {os.environ['DASK_SCHEDULER_ADDRESS']}"] = {}
        for where, extra in places.items():
            found = search(roots["penguins"], "penguins", "tpe", timed_trials, **extra)
            print(f"| {where} | {found.seconds:.1f} | {found.metric} {found.best:.4f} ± {found.spread:.4f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
