"""`make promote VERSION=<n>`: point the champion alias at a model version by hand.

Experiments register versions but never move the alias; this is how one of them becomes the champion.
A version below the quality gate is refused. The Makefile then re-runs the `champion` and `export`
stages, so models/serving/ holds what the registry now calls the champion.
"""

from __future__ import annotations

import sys

from mlproject import config, stage
from mlproject.metrics import failed_gate
from mlproject.tracking import champion_version, client, mlflow_errors, store_lock


class PromoteError(stage.StageError, ValueError):
    """The version cannot become the champion; the message says why."""


def promote(version: int, params: config.Params) -> str:
    from mlflow.exceptions import MlflowException

    registry, gate = params.registry, params.registry.gate
    with store_lock(), mlflow_errors(f"promoting version {version}"):
        mlflow_client = client()
        try:
            candidate = mlflow_client.get_model_version(registry.model_name, str(version))
        except MlflowException:
            raise PromoteError(f"model '{registry.model_name}' has no version {version}") from None
        tested = mlflow_client.get_run(candidate.run_id).data.metrics.get(gate.metric)
        if tested is None:
            raise PromoteError(f"version {version}'s run has no {gate.metric}, the metric the gate names")
        if refusal := failed_gate(gate, tested):
            raise PromoteError(f"version {version} cannot be '{registry.champion_alias}': {refusal}")
        previous = champion_version(mlflow_client, registry)
        mlflow_client.set_registered_model_alias(registry.model_name, registry.champion_alias, version)
    was = "no version" if previous is None else f"version {previous.version}"
    return f"'{registry.champion_alias}' is now {registry.model_name} version {version} (was {was})"


def main(arguments: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if arguments is None else arguments

    def work() -> str:
        if len(arguments) != 1 or not arguments[0].isdigit() or int(arguments[0]) < 1:
            raise PromoteError(f"give one model version number, e.g. `make promote VERSION=3` (got {arguments})")
        return promote(int(arguments[0]), config.load_params())

    return stage.run("promote", work)


if __name__ == "__main__":
    sys.exit(main())
