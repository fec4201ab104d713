"""`make ui`: MLflow's UI on the project's store, opened on the experiment's runs table.

It prints the address of the experiment's classic runs table, in the view `register` saves (the champion
rule's metrics, then the params of the model, as columns), and starts `mlflow ui` on 127.0.0.1. With a
team server (MLFLOW_TRACKING_URI=http...), the server is the UI: it prints that address and starts nothing.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from mlproject import config
from mlproject.stage import StageError
from mlproject.tracking import client, mlflow_errors, runs_table_url, sqlite_store


def experiment_id(name: str) -> str | None:
    with mlflow_errors(f"looking up experiment {name!r}"):
        experiment = client().get_experiment_by_name(name)
    return None if experiment is None else experiment.experiment_id


def main(port: str) -> int:
    uri, store = config.tracking_uri(), sqlite_store()
    remote = uri.startswith(("http://", "https://"))
    server = uri if remote else f"http://127.0.0.1:{port}"
    name = config.load_params().registry.experiment_name
    found = experiment_id(name) if remote or (store is not None and store.exists()) else None
    if found is None:
        print(f"no experiment {name!r} yet (`make repro` makes it); the UI: {server}", flush=True)
    else:
        print(f"the runs of {name!r}: {runs_table_url(server, found)}", flush=True)
    if remote:
        return 0
    mlflow = Path(sys.executable).with_name("mlflow")
    os.execv(mlflow, [str(mlflow), "ui", "--backend-store-uri", uri, "--host", "127.0.0.1", "--port", port])


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "5000"))
    except StageError as error:  # bad params, or MLflow refusing (tracking.mlflow_errors): one line
        sys.exit(f"ui: {error}")
