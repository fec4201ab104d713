"""Where the many fits run: cross-validation folds and tuning trials go through joblib, to local processes
by default, or to a Dask cluster when `DASK_SCHEDULER_ADDRESS` names its scheduler (`make team-env` writes
it when the team stack runs one).

Results come back in the order the work was given, whatever finishes first, so where the work runs never
changes an answer. On a cluster the project's own modules travel with each task (pickled by value), so
workers run the code of the experiment that sent them, a queued experiment's copy included; a worker
whose locked libraries differ from this environment's is refused before any work is sent.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from importlib import metadata
from typing import Any

from mlproject import config
from mlproject.stage import StageError

SCHEDULER_VARIABLE = "DASK_SCHEDULER_ADDRESS"
WORKERS_VARIABLE = "MLPROJECT_WORKERS"  # local processes (default: one per core); 1 runs everything in this one
CONNECT_TIMEOUT = "10s"


class ComputeError(StageError, RuntimeError):
    """The cluster cannot take the work: the message names its address and what to do."""


def local_workers() -> int:
    raw = os.environ.get(WORKERS_VARIABLE, "")
    if not raw:
        return os.cpu_count() or 1
    if not raw.isdigit() or int(raw) < 1:
        raise ComputeError(f"{WORKERS_VARIABLE}={raw!r}: give a whole number of processes, 1 or more")
    return int(raw)


def run_all(function: Callable[..., Any], arguments: Sequence[tuple], local_processes: bool = True) -> list[Any]:
    """`[function(*a) for a in arguments]`, in that order, on the Dask cluster if there is one, else on local
    processes (or in this one: starting them costs seconds, more than a little work saves)."""
    from joblib import Parallel, delayed, parallel_config

    tasks = [delayed(function)(*each) for each in arguments]
    address = os.environ.get(SCHEDULER_VARIABLE)
    if address:
        with dask_cluster(address), parallel_config(backend="dask"):
            return Parallel()(tasks)
    workers = min(local_workers(), len(tasks)) if local_processes else 1
    if workers <= 1:
        return [function(*each) for each in arguments]
    return Parallel(n_jobs=workers, backend="loky")(tasks)


def locked_versions() -> dict[str, str]:
    """The versions requirements.txt pins, by distribution name as pip normalises it."""
    text = (config.project_root() / config.LOCK_FILE).read_text(encoding="utf-8")
    return {normal(name): version for name, version in re.findall(r"^([A-Za-z0-9_.-]+)==([^\s;\\]+)", text, re.M)}


def normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def installed_versions(names: list[str]) -> dict[str, str | None]:
    """What this Python has installed of each distribution (None: not installed); run on each worker."""
    found: dict[str, str | None] = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def version_mismatch(locked: dict[str, str], workers: dict[str, dict[str, str | None]]) -> str | None:
    """The first worker library that differs from the lock, said in a line, or None."""
    for worker, versions in sorted(workers.items()):
        for name, version in sorted(locked.items()):
            if versions.get(name) != version:
                has = f"has {name} {versions.get(name)}" if versions.get(name) else f"lacks {name}"
                return f"Dask worker {worker} {has}, requirements.txt locks {version}"
    return None


@contextmanager
def dask_cluster(address: str) -> Iterator[Any]:
    """A client of the scheduler at `address`, its workers checked against the lock, this project's code
    sent by value; closed on the way out."""
    import cloudpickle
    from distributed import Client

    import mlproject

    try:
        client = Client(address, timeout=CONNECT_TIMEOUT, set_as_default=True)
    except (OSError, TimeoutError) as error:
        raise ComputeError(
            f"the Dask scheduler at {address} does not answer ({type(error).__name__}); start it "
            f"(`make team-up`) or unset {SCHEDULER_VARIABLE} to run on local processes"
        ) from None
    cloudpickle.register_pickle_by_value(mlproject)
    try:
        if not client.scheduler_info().get("workers"):
            raise ComputeError(f"the Dask scheduler at {address} has no workers: start some (`make team-up`)")
        locked = locked_versions()
        if problem := version_mismatch(locked, client.run(installed_versions, sorted(locked))):
            raise ComputeError(f"{problem}: rebuild the workers' image from this lock (`make team-up`)")
        yield client
    finally:
        cloudpickle.unregister_pickle_by_value(mlproject)
        client.close()
