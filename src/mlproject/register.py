"""Stage `register`: log the run to MLflow, register the model, and move the champion alias past the gate.

The alias moves only when the new version passes the quality gate of params.yaml AND is not worse than
the current champion re-scored on the same test split; otherwise the version stays registered without
the alias, and the stage says why in one line.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import subprocess
import sys
import warnings
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pandas as pd

from mlproject import config, files, stage
from mlproject.dataset import SCHEMA
from mlproject.evaluate import evaluate
from mlproject.features import model_input
from mlproject.train import TRUSTED_TYPES, load_model

ARTIFACTS = (config.METRICS_FILE, config.CONFUSION_FILE, config.ROC_FILE)
TRACKED_FILES = (config.RAW_DATA, config.TRAIN_DATA, config.TEST_DATA, config.MODEL_FILE)
MODEL_PACKAGES = ("mlflow", "scikit-learn", "skops", "numpy", "pandas", "scipy")


@dataclass(frozen=True)
class AliasDecision:
    move: bool
    reason: str


def decide_alias(candidate_f1: float, min_macro_f1: float, champion_f1: float | None, alias: str) -> AliasDecision:
    """The champion rule, on numbers only: pass the gate, and be no worse than the current champion."""
    if candidate_f1 < min_macro_f1:
        return AliasDecision(False, f"macro F1 {candidate_f1:.4f} is below the quality gate {min_macro_f1:.4f}")
    if champion_f1 is not None and candidate_f1 < champion_f1:
        return AliasDecision(
            False,
            f"macro F1 {candidate_f1:.4f} is worse than the current {alias}'s {champion_f1:.4f} on this test split",
        )
    if champion_f1 is None:
        return AliasDecision(
            True, f"macro F1 {candidate_f1:.4f} passes the gate {min_macro_f1:.4f}; no {alias} to compare with"
        )
    return AliasDecision(
        True, f"macro F1 {candidate_f1:.4f} passes the gate {min_macro_f1:.4f} and matches or beats {champion_f1:.4f}"
    )


def metric_name(key: str) -> str:
    """MLflow accepts letters, digits and `_-. :/` in metric names: class names may hold anything else."""
    return re.sub(r"[^A-Za-z0-9_\-. :/]", "_", key)


def md5_of(path: Path) -> str:
    """The same digest dvc.lock records for a file output."""
    return hashlib.md5(path.read_bytes()).hexdigest()


def git_commit() -> str:
    try:
        result = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return result.stdout.strip()


def lineage_tags() -> dict[str, str]:
    tags = {
        "git_commit": git_commit(),
        "requirements_sha256": hashlib.sha256(config.LOCK_FILE.read_bytes()).hexdigest(),
    }
    tags.update({f"dvc_md5.{path}": md5_of(path) for path in TRACKED_FILES})
    return tags


def quiet_mlflow() -> None:
    """The store's schema migrations log a page of INFO lines on first use; keep the stage's output readable."""
    for name in ("alembic", "mlflow"):
        logging.getLogger(name).setLevel(logging.WARNING)


def ensure_experiment(client, name: str) -> str:
    """The experiment's id; a new one on the embedded store keeps its artifacts in the project's mlruns/."""
    existing = client.get_experiment_by_name(name)
    if existing is not None:
        return existing.experiment_id
    location = None if config.TRACKING_URI_VARIABLE in os.environ else (config.project_root() / "mlruns").as_uri()
    return client.create_experiment(name, artifact_location=location)


def champion_f1(client, params: config.RegistryParams, test: pd.DataFrame) -> tuple[int | None, float | None]:
    """The current champion's version and its macro F1 re-scored on this test split (None when there is none)."""
    import mlflow
    from mlflow.exceptions import MlflowException

    try:
        version = client.get_model_version_by_alias(params.model_name, params.champion_alias)
    except MlflowException:
        return None, None
    uri = f"models:/{params.model_name}@{params.champion_alias}"
    try:
        champion = mlflow.sklearn.load_model(uri)  # skops, with the trusted types it was logged with
        return int(version.version), evaluate(champion, test, SCHEMA)[0]["macro_f1"]
    except Exception as error:  # noqa: BLE001 - a champion of another schema or library cannot be compared
        print(f"register: the current {params.champion_alias} cannot score this test split ({error}); ignoring it")
        return int(version.version), None


def run(params: config.Params) -> dict:
    import mlflow
    from mlflow import MlflowClient
    from mlflow.models import infer_signature

    quiet_mlflow()
    mlflow.set_tracking_uri(config.tracking_uri())
    client = MlflowClient()
    registry = params.registry
    experiment_id = ensure_experiment(client, registry.experiment_name)

    model = load_model(config.MODEL_FILE)
    train, test = pd.read_csv(config.TRAIN_DATA), pd.read_csv(config.TEST_DATA)
    metrics = files.read_json(config.METRICS_FILE)
    champion_version, current_best = champion_f1(client, registry, test)

    example = model_input(test, SCHEMA).head(5)
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"{params.train.classifier}") as active:
        mlflow.log_params(config.flatten(params.model_dump()))
        mlflow.log_metrics({metric_name(k): float(v) for k, v in config.flatten(metrics).items()})
        mlflow.set_tags(lineage_tags())
        for path in ARTIFACTS:
            mlflow.log_artifact(str(path), artifact_path=str(path.parent))
        for frame, path, context in ((train, config.TRAIN_DATA, "training"), (test, config.TEST_DATA, "evaluation")):
            with warnings.catch_warnings():
                # MLflow registers its local-file source under two names and warns that a path matches both.
                warnings.filterwarnings("ignore", message="The specified dataset source can be interpreted")
                dataset = mlflow.data.from_pandas(frame, source=str(path), name=path.stem, targets=SCHEMA.label)
            mlflow.log_input(dataset, context=context)
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=infer_signature(example, model.predict(example)),
            input_example=example,
            pip_requirements=[f"{name}=={metadata.version(name)}" for name in MODEL_PACKAGES],
            registered_model_name=registry.model_name,
            skops_trusted_types=TRUSTED_TYPES,
        )
        version = int(info.registered_model_version)
        decision = decide_alias(
            metrics["macro_f1"], registry.quality_gate.min_macro_f1, current_best, registry.champion_alias
        )
        if decision.move:
            client.set_registered_model_alias(registry.model_name, registry.champion_alias, version)
        mlflow.set_tag("champion_decision", decision.reason)
        client.set_model_version_tag(registry.model_name, version, "champion_decision", decision.reason)
    return {
        "model_name": registry.model_name,
        "version": version,
        "run_id": active.info.run_id,
        "alias": registry.champion_alias,
        "alias_moved": decision.move,
        "previous_champion_version": champion_version,
        "reason": decision.reason,
    }


def write_registration() -> str:
    outcome = run(config.load_params())
    files.write_json(config.REGISTRATION_FILE, outcome)
    verdict = "now" if outcome["alias_moved"] else "NOT"
    return (
        f"{outcome['model_name']} version {outcome['version']} is {verdict} '{outcome['alias']}': {outcome['reason']}"
    )


def main() -> int:
    return stage.run("register", write_registration)


if __name__ == "__main__":
    sys.exit(main())
