"""Where the many fits run: cross-validation folds and tuning trials go through joblib, to local processes
by default, or to a Dask cluster when `DASK_SCHEDULER_ADDRESS` names its scheduler (`make team-env` writes
it when the team stack runs one).

Results come back in the order the work was given, whatever finishes first, so where the work runs never
changes an answer. The project's own modules travel with each task (pickled by value), so workers run the
code of the experiment that sent them, a queued experiment's copy included; a cluster's worker whose
Python or locked libraries differ from this environment's is refused before any work is sent.
"""

from __future__ import annotations

import os
import platform
import re
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from importlib import metadata
from typing import Any

from mlproject import config
from mlproject.stage import StageError

SCHEDULER_VARIABLE = "DASK_SCHEDULER_ADDRESS"
WORKERS_VARIABLE = "MLPROJECT_WORKERS"  # local processes (default: one per core); 1 runs everything in this one
CONNECT_TIMEOUT = "10s"
PYTHON = "python"  # the key of the Python release among a worker's versions
TLS_VARIABLES = ("DASK_TLS_KEY", "DASK_TLS_CERT")


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
    from joblib import Parallel, delayed

    config.use_team_env()  # `make team-env` names the team's scheduler there
    address = os.environ.get(SCHEDULER_VARIABLE)
    if address:
        with dask_cluster(address) as client, project_by_value():
            return on_cluster(client, function, arguments)
    workers = min(local_workers(), len(arguments)) if local_processes else 1
    if workers <= 1:
        return [function(*each) for each in arguments]
    with project_by_value():  # the workers run this code, whatever a fresh import would find on sys.path
        return Parallel(n_jobs=workers, backend="loky")(delayed(calls(function, each))() for each in arguments)


def calls(function: Callable[..., Any], arguments: tuple) -> ByValue:
    from functools import partial

    return ByValue(partial(function, *arguments))


def on_cluster(client, function: Callable[..., Any], arguments: Sequence[tuple]) -> list[Any]:
    """Each call as one Dask task that carries the project's code with it (`ByValue`), under a key of its
    own (the dashboard shows the function's name): two experiments on one cluster share no task."""
    from uuid import uuid4

    name = getattr(function, "__name__", "call")
    return client.gather([client.submit(calls(function, each), key=f"{name}-{uuid4().hex}") for each in arguments])


@contextmanager
def project_by_value() -> Iterator[None]:
    """cloudpickle sends this project's modules by value meanwhile: a worker needs none of its files (a
    cluster's have none; a local process would import whatever its sys.path finds, and a model MLflow
    loaded puts its own partial copy of the package first there)."""
    import cloudpickle

    import mlproject

    if mlproject.__name__ in cloudpickle.list_registry_pickle_by_value():  # an outer use holds it: leave it so
        yield
        return
    cloudpickle.register_pickle_by_value(mlproject)
    try:
        yield
    finally:
        cloudpickle.unregister_pickle_by_value(mlproject)


class ByValue:
    """A callable that pickles as cloudpickle's bytes of itself, so a worker without this project's package
    rebuilds it from those bytes (`project_by_value`). Needed because Dask pickles a task graph with plain
    pickle, by reference; and not through joblib's Dask backend, whose batches Dask pickles by reference too."""

    def __init__(self, call: Callable[..., Any]):
        self.call = call

    def __call__(self, *arguments: Any) -> Any:
        return self.call(*arguments)

    def __reduce__(self):
        import cloudpickle

        return cloudpickle.loads, (cloudpickle.dumps(self.call),)


def locked_versions() -> dict[str, str]:
    """The versions requirements.txt pins, by distribution name as pip normalises it."""
    text = (config.project_root() / config.LOCK_FILE).read_text(encoding="utf-8")
    return {normal(name): version for name, version in re.findall(r"^([A-Za-z0-9_.-]+)==([^\s;\\]+)", text, re.M)}


def normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def installed_versions(names: list[str]) -> dict[str, str | None]:
    """This Python's release (major.minor: what the code sent by value must match) and what it has
    installed of each distribution (None: not installed); run on each worker."""
    found: dict[str, str | None] = {PYTHON: python_release()}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def python_release() -> str:
    return ".".join(platform.python_version_tuple()[:2])


def version_mismatch(locked: dict[str, str], workers: dict[str, dict[str, str | None]]) -> str | None:
    """The first worker whose Python or locked library differs from this side's, said in a line, or None."""
    for worker, versions in sorted(workers.items()):
        if versions.get(PYTHON, python_release()) != python_release():
            return f"Dask worker {worker} runs Python {versions[PYTHON]}, this project {python_release()}"
        for name, version in sorted(locked.items()):
            if versions.get(name) != version:
                has = f"has {name} {versions.get(name)}" if versions.get(name) else f"lacks {name}"
                return f"Dask worker {worker} {has}, requirements.txt locks {version}"
    return None


def tls_security():
    """The key and certificate a `tls://` scheduler lets in: DASK_TLS_KEY and DASK_TLS_CERT, each the base64
    of its PEM (`make team-env` writes the team stack's to team.env)."""
    import base64
    import binascii

    from distributed.security import Security

    try:
        key, certificate = (base64.b64decode(os.environ[name], validate=True).decode() for name in TLS_VARIABLES)
    except KeyError as missing:
        raise ComputeError(f"{missing.args[0]} is not set: a tls:// scheduler needs the stack's key and "
                           "certificate (`make team-env` writes them to team.env)") from None  # fmt: skip
    except (binascii.Error, UnicodeDecodeError):
        raise ComputeError(f"{' and '.join(TLS_VARIABLES)} must each be the base64 of a PEM file") from None
    return Security(require_encryption=True, tls_ca_file=certificate, tls_client_cert=certificate,
                    tls_client_key=key)  # fmt: skip


@contextmanager
def dask_cluster(address: str) -> Iterator[Any]:
    """A client of the scheduler at `address`, its workers checked against the lock; closed on the way out."""
    from distributed import Client
    from distributed.comm.core import CommClosedError
    from distributed.versions import VersionMismatchWarning

    security = tls_security() if address.startswith("tls://") else None
    try:
        with warnings.catch_warnings():  # a python patch release apart: the check below says what matters
            warnings.simplefilter("ignore", VersionMismatchWarning)
            client = Client(address, timeout=CONNECT_TIMEOUT, set_as_default=False, direct_to_workers=False,
                            security=security)  # fmt: skip
    except CommClosedError:  # it answered, then hung up: the TLS handshake failed
        raise ComputeError(
            f"the Dask scheduler at {address} refused the connection: it lets in tls:// clients holding the "
            f"stack's key and certificate ({', '.join(TLS_VARIABLES)}: `make team-env` writes them)"
        ) from None
    except (OSError, TimeoutError) as error:
        raise ComputeError(
            f"the Dask scheduler at {address} does not answer ({type(error).__name__}); start it "
            f"(`make team-up`) or unset {SCHEDULER_VARIABLE} to run on local processes"
        ) from None
    try:
        if not client.scheduler_info().get("workers"):
            raise ComputeError(f"the Dask scheduler at {address} has no workers: start some (`make team-up`)")
        locked = locked_versions()
        with project_by_value():
            workers = client.run(ByValue(installed_versions), sorted(locked))
        if problem := version_mismatch(locked, workers):
            raise ComputeError(f"{problem}: rebuild the workers' image from this lock (`make team-up`)")
        yield client
    finally:
        client.close()
