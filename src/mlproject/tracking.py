"""MLflow as the stages use it: the project's tracking store, quietly, and the registry's champion.

MLflow is imported inside the functions: it takes seconds, and stages that do not track should not pay.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

from mlproject import config
from mlproject.stage import StageError


class TrackingError(StageError, RuntimeError):
    """MLflow refused or could not be reached; the message says which and what to check."""


def client():
    """A client of the project's store; the store's schema migrations log a page of INFO lines, kept quiet."""
    import mlflow
    from mlflow import MlflowClient

    for name in ("alembic", "mlflow"):
        logging.getLogger(name).setLevel(logging.WARNING)
    mlflow.set_tracking_uri(config.tracking_uri())
    return MlflowClient()


@contextmanager
def mlflow_errors(doing: str) -> Iterator[None]:
    """MLflow's own errors, said in one line with what the stage was doing."""
    from mlflow.exceptions import MlflowException

    try:
        yield
    except MlflowException as error:
        first = str(error.message).strip().splitlines()[0] if str(error.message).strip() else type(error).__name__
        raise TrackingError(f"MLflow failed while {doing} at {config.tracking_uri()}: {plainly(first)}") from None


def plainly(message: str) -> str:
    """A server's failure as the user can act on it, rather than as urllib3 words it after its retries."""
    if failing := re.search(r"too many (\d{3}) error responses", message):
        return f"the server kept answering {failing[1]} (is its database or storage down?)"
    if re.search(r"Connection refused|NewConnectionError|Failed to establish", message):
        return "the server does not answer (is it running?)"
    return message


def run_name() -> str:
    """The DVC experiment this run belongs to (DVC names it in DVC_EXP_NAME), or `main` for a plain `dvc repro`."""
    return os.environ.get("DVC_EXP_NAME") or "main"


def ensure_experiment(mlflow_client, name: str) -> str:
    """The experiment's id; a new one on the embedded store keeps its artifacts in the project's mlruns/."""
    existing = mlflow_client.get_experiment_by_name(name)
    if existing is not None:
        return existing.experiment_id
    location = None if config.TRACKING_URI_VARIABLE in os.environ else (config.project_root() / "mlruns").as_uri()
    return mlflow_client.create_experiment(name, artifact_location=location)


RUNS_VIEW = "mlproject"  # the key of the saved runs-table view; `make ui` opens it


def publish_runs_view(mlflow_client, experiment_id: str, columns: list[str]) -> None:
    """Save a view of the experiment's runs table that shows these params and metrics as columns.

    MLflow's UI opens an experiment on its GenAI pages, with params and metrics hidden behind "Show more
    columns"; a view saved in the experiment's tag `mlflow.sharedViewState.<key>` (what the UI's own
    "Save view" writes) is opened by `runs_table_url`. Columns are `params.<key>` or `metrics.<key>`.
    """
    import json
    import time

    selected = [f"{kind}.`{name}`" for kind, name in (column.split(".", 1) for column in columns)]
    now = int(time.time() * 1000)
    view = {"name": "Params & metrics", "createdAt": now, "updatedAt": now,
            "state": json.dumps({"selectedColumns": selected})}  # fmt: skip
    mlflow_client.set_experiment_tag(experiment_id, f"mlflow.sharedViewState.{RUNS_VIEW}", json.dumps(view))


def runs_table_url(base: str, experiment_id: str) -> str:
    """The experiment's classic runs table (not the GenAI overview), in the view publish_runs_view saved."""
    return f"{base}/#/experiments/{experiment_id}/runs?workflowType=machine_learning&viewStateShareKey={RUNS_VIEW}"


def champion_version(mlflow_client, registry: config.RegistryParams):
    """The model version the champion alias points at, or None."""
    from mlflow.exceptions import MlflowException

    try:
        return mlflow_client.get_model_version_by_alias(registry.model_name, registry.champion_alias)
    except MlflowException:
        return None


NO_CHAMPION = (None, None)
ALIAS_QUERY = """SELECT v.version, v.run_id FROM registered_model_aliases a JOIN model_versions v
                 ON v.name = a.name AND v.version = a.version WHERE a.name = ? AND a.alias = ?"""
TAG_QUERY = "SELECT value FROM tags WHERE run_uuid = ? AND key = ?"


def champion_in_store(store: Path, registry: config.RegistryParams, tag: str) -> tuple[int | None, str | None] | None:
    """The champion's version number and its run's `tag`, read from the embedded store's file with sqlite3:
    the champion stage, run on each `dvc repro`, takes 0.4 s instead of 4 to 7 with MLflow's client (its
    imports, and the schema check of every connection). None when the file is not laid out as this reads it
    (tables missing or changed, one alias in several workspaces): then MLflow's client answers. A store not
    yet made holds no champion."""
    import sqlite3

    if not store.exists():
        return NO_CHAMPION
    try:
        with closing(sqlite3.connect(f"{store.as_uri()}?mode=ro", uri=True)) as connection:
            found = connection.execute(ALIAS_QUERY, (registry.model_name, registry.champion_alias)).fetchall()
            if len(found) > 1:
                return None
            if not found:
                return NO_CHAMPION
            version, run_id = found[0]
            tags = connection.execute(TAG_QUERY, (run_id, tag)).fetchall()
    except sqlite3.Error:
        return None
    return int(version), tags[0][0] if tags else None


def sqlite_store() -> Path | None:
    """The file of the embedded SQLite store, or None when the tracking URI names a server."""
    uri = config.tracking_uri()
    return Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None


@contextmanager
def store_lock() -> Iterator[None]:
    """One stage at a time on an SQLite store: parallel experiments (`dvc exp run -j 2`) and `make promote`
    would otherwise race on its first migration and on its writes ("database is locked"). A tracking
    server orders its own writes: no lock then."""
    store = sqlite_store()
    if store is None:
        yield
        return
    with store.with_name(store.name + ".lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes, also if the process dies
        yield
