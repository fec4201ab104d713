"""Stage `champion`: write down which model version the registry's champion alias points at.

The alias lives in MLflow, where DVC cannot see it. This stage runs on every `dvc repro`
(`always_changed`), asks the registry, and writes models/champion.json; `export` depends on that file,
so the serving bundle is rebuilt exactly when the alias has moved: by the main line's `register`, by
`make promote`, or by a teammate on a shared server.
"""

from __future__ import annotations

import sys

from mlproject import config, files, stage
from mlproject.tracking import (
    NO_CHAMPION,
    champion_in_store,
    champion_version,
    client,
    mlflow_errors,
    sqlite_store,
    store_lock,
)


def read_champion(registry: config.RegistryParams) -> dict:
    """The alias's version, and the md5 of its model file: a store made anew may give number 1 to another model."""
    tag = f"dvc_md5.{config.MODEL_FILE}"
    with store_lock():
        store = sqlite_store()
        found = None if store is None else champion_in_store(store, registry, tag)
        if found is None:  # a tracking server, or a store this does not read: MLflow's client
            found = champion_from_mlflow(registry, tag)
    version, model_md5 = found
    return {"model_name": registry.model_name, "alias": registry.champion_alias, "version": version,
            "model_md5": model_md5}  # fmt: skip


def champion_from_mlflow(registry: config.RegistryParams, tag: str) -> tuple[int | None, str | None]:
    with mlflow_errors("reading the champion alias"):
        mlflow_client = client()
        version = champion_version(mlflow_client, registry)
        if version is None:
            return NO_CHAMPION
        return int(version.version), mlflow_client.get_run(version.run_id).data.tags.get(tag)


def write_champion() -> str:
    champion = read_champion(config.load_params(build_estimators=False).registry)
    files.write_json(config.CHAMPION_FILE, champion)
    if champion["version"] is None:
        return f"model '{champion['model_name']}' has no '{champion['alias']}' yet"
    return f"'{champion['alias']}' is {champion['model_name']} version {champion['version']}"


def main() -> int:
    return stage.run("champion", write_champion)


if __name__ == "__main__":
    sys.exit(main())
