"""Turnaround of the pipeline in a fresh clone (no outputs, no DVC cache, no MLflow store; the venv is
there): a cold `dvc repro`, a no-op `dvc repro` right after it, and a one-parameter `dvc exp run`; then each
stage's command by hand, in a new Python (beside what importing its module alone costs) and in a child of the
warm runner (src/mlproject/runner.py), which is how DVC runs it. The cold run and the experiment are timed
again in a second fresh clone with every stage in a new Python (MLPROJECT_WARM=0): the gain, side by side in one
run, as this kind of machine's speed moves between runs. For the project as it is and, with
`EXAMPLES=all` (or names), each example, with the metrics the cold run wrote. Targets on a 2-core machine:
cold <= 20 s, no-op <= 2 s, the experiment <= 10 s.

Then the floor under the experiment's figure: what DVC itself costs (a `dvc exp run` with nothing to run,
which still runs the always-changed champion stage), and the stages the experiment ran, all in one process
(so no merging of stages could do better), with and without the imports they need (without: what a process
kept warm between runs could reach)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from benchmarks.harness import cpu_name, venv_env

REPO = Path(__file__).resolve().parents[1]
TARGETS = {"cold": 20.0, "no-op": 2.0, "exp run": 10.0, "cold, new Pythons": 20.0, "exp run, new Pythons": 10.0}
NEW_PYTHONS = {"MLPROJECT_WARM": "0"}  # each stage in a new Python, as before the warm runner: side by side


def timed(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, str]:
    """The wall time of `command`, and what it printed (stdout, then stderr)."""
    start = time.perf_counter()
    run = subprocess.run(command, cwd=cwd, env=env, check=True, capture_output=True, text=True)
    return time.perf_counter() - start, run.stdout + run.stderr


def experiment(clone: Path) -> str:
    """The one number the experiment changes, as `-S` takes it: the last step's n_estimators when it has
    one, else the seed."""
    steps = yaml.safe_load((clone / "params.yaml").read_text())["model"]["steps"]
    last, spec = list(steps.items())[-1]
    if "n_estimators" in (spec.get("params") or {}):
        return f"model.steps.{last}.params.n_estimators=50"
    return "seed=43"


def set_param(clone: Path, change: str) -> None:
    """`change` (`a.b.c=value`) written into params.yaml, as `dvc exp run -S` does."""
    dotted, value = change.split("=", 1)
    params = yaml.safe_load((clone / "params.yaml").read_text())
    *parents, leaf = dotted.split(".")
    node = params
    for key in parents:
        node = node[key]
    node[leaf] = yaml.safe_load(value)
    (clone / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def in_one_process(clone: Path, env: dict[str, str], modules: list[str]) -> tuple[float, float]:
    """The stages' `main()`s one after the other in one process, timed with their imports and without."""
    names = ", ".join(modules)
    code = (
        "import sys, time; start = time.perf_counter();"
        f"from mlproject import {names}; imported = time.perf_counter();"
        f"failed = any(stage.main() for stage in ({names},));"
        "end = time.perf_counter(); print(end - start, end - imported); sys.exit(failed)"
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=clone, env=env, check=True, capture_output=True, text=True)
    whole, warm = run.stdout.split()[-2:]
    return float(whole), float(warm)


def stage_times(clone: Path, env: dict[str, str]) -> dict[str, tuple[float, float, float]]:
    """Each stage's command in a new Python (MLPROJECT_WARM=0) and in a warm runner's child (wall times), and
    `import` of its module alone."""
    stages = yaml.safe_load((clone / "dvc.yaml").read_text())["stages"]
    alone = dict(env, PYTHONPATH="src")
    first = ["sh", "-c", next(iter(stages.values()))["cmd"]]
    timed(first, clone, alone)  # starts this environment's runner
    timed(first, clone, alone)  # waits until it is up
    found = {}
    for name, stage in stages.items():
        command = ["sh", "-c", stage["cmd"]]
        found[name] = (
            timed(command, clone, dict(alone, MLPROJECT_WARM="0"))[0],
            timed([sys.executable, "-c", f"import mlproject.{name}"], clone, alone)[0],
            timed(command, clone, alone)[0],
        )
    return found


@dataclass
class Measured:
    runs: dict[str, float]
    metrics: dict
    stages: dict[str, tuple[float, float, float]]  # in a new Python, importing alone, in a warm runner's child
    experiment_stages: list[str]  # what the experiment ran
    one_process: tuple[float, float]  # those stages in one process: with their imports, without
    dvc_idle: float  # `dvc exp run` with nothing to run


def measure(example: str | None, env: dict[str, str]) -> Measured:
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as scratch:
        warm = Path(scratch) / "warm"  # the runners this measure starts, stopped at its end
        warm.mkdir(mode=0o700)
        try:
            return measure_in(Path(scratch) / "clone", example, dict(env, MLPROJECT_WARM_DIR=str(warm)))
        finally:
            subprocess.run(
                [sys.executable, "-m", "mlproject.runner", "--stop"], env=dict(env, MLPROJECT_WARM_DIR=str(warm))
            )


def fresh_clone(clone: Path, example: str | None, env: dict[str, str]) -> Path:
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True)
    if example:
        subprocess.run(["bash", "scripts/use-example.sh", example], cwd=clone, check=True, capture_output=True)
        subprocess.run(["git", "commit", "--quiet", "-am", "example"], cwd=clone, check=True, env=env)
    return clone


def back_to_head(clone: Path, env: dict[str, str]) -> None:
    subprocess.run(["git", "checkout", "--quiet", "--", "."], cwd=clone, check=True)
    subprocess.run(["dvc", "checkout", "--quiet"], cwd=clone, check=True, env=env)


def measure_in(clone: Path, example: str | None, env: dict[str, str]) -> Measured:
    fresh_clone(clone, example, env)
    times = {"cold": timed(["dvc", "repro"], clone, env)[0], "no-op": timed(["dvc", "repro"], clone, env)[0]}
    metrics = json.loads((clone / "reports/metrics.json").read_text())
    dvc_idle = timed(["dvc", "exp", "run"], clone, env)[0]
    change = experiment(clone)
    times["exp run"], said = timed(["dvc", "exp", "run", "-S", change], clone, env)
    ran = re.findall(r"Running stage '(\w+)'", said)
    back_to_head(clone, env)
    other = fresh_clone(clone.with_name("new-pythons"), example, env)
    times["cold, new Pythons"] = timed(["dvc", "repro"], other, dict(env, **NEW_PYTHONS))[0]
    times["exp run, new Pythons"] = timed(["dvc", "exp", "run", "-S", change], other, dict(env, **NEW_PYTHONS))[0]
    stages = stage_times(clone, env)
    set_param(clone, change)
    one = in_one_process(clone, dict(env, PYTHONPATH="src", DVC_EXP_NAME="one-process"), ran)
    return Measured(times, metrics, stages, ran, one, dvc_idle)


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
    for project, found in measured.items():
        for run, seconds in found.runs.items():
            within = "yes" if seconds <= TARGETS[run] else "NO"
            print(f"| {project} | {run} | {seconds:.1f} | {TARGETS[run]:.0f} | {within} |")
    print("\n| project | stage | in a new Python (s) | of which importing its module (s) | in a warm runner (s) |")
    print("|---|---|---:|---:|---:|")
    for project, found in measured.items():
        for name, (wall, imports, warm) in found.stages.items():
            print(f"| {project} | {name} | {wall:.2f} | {imports:.2f} | {warm:.2f} |")
    print("\nThe experiment's floor (s): DVC idle (an exp run with nothing to do); its stages in one process\n")
    print("| project | stages it ran | exp run | DVC idle | in one process | warm | floor: merged | floor: warm |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for project, found in measured.items():
        whole, warm = found.one_process
        print(
            f"| {project} | {', '.join(found.experiment_stages)} | {found.runs['exp run']:.1f} | {found.dvc_idle:.1f}"
            f" | {whole:.1f} | {warm:.1f} | {found.dvc_idle + whole:.1f} | {found.dvc_idle + warm:.1f} |"
        )
    print("\n" + "\n".join(metrics_table({project: found.metrics for project, found in measured.items()})))
    return 0 if all(found.runs[n] <= TARGETS[n] for found in measured.values() for n in TARGETS) else 1


if __name__ == "__main__":
    sys.exit(main())
