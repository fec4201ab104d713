"""Stage `register`: log the run to MLflow, and register the model past the quality gate.

The gate of params.yaml names a metric and its bound on the test split. Everything is decided before the
registry is touched: a model below the gate is logged in its run but never becomes a model version; one
past the gate becomes a version. The champion alias moves to it only on the main line (an experiment
never moves it: `make promote VERSION=<n>` does, by hand), and only if it beats the current champion,
cross-validated on the same folds of this training split, by more than `registry.comparison.tolerance`.
Past the gate, the model must also be servable: converted to ONNX and checked against scikit-learn on the
test split as `export` will do (`mlproject.conversion`). One that cannot be is logged in its run, with
the reason, and becomes no version: a version can be promoted, and the champion must always be servable.
The stage says why in one line.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import warnings
from importlib import metadata
from pathlib import Path
from typing import SupportsFloat, cast

import pandas as pd

from mlproject import config, files, stage
from mlproject.dataset import SCHEMA
from mlproject.inputs import model_input, read_table
from mlproject.metrics import AliasDecision, decide_alias, failed_gate
from mlproject.model_io import load_model, trusted_types_of
from mlproject.modules import SOURCE_ROOT, closure
from mlproject.tracking import (
    TrackingError,
    champion_version,
    client,
    ensure_experiment,
    mlflow_errors,
    publish_runs_view,
    run_name,
    store_lock,
)
from mlproject.validation import cross_validate

TRACKED_FILES = (config.RAW_DATA, config.TRAIN_DATA, config.TEST_DATA, config.MODEL_FILE)
MODEL_PACKAGES = ("mlflow", "scikit-learn", "skops", "numpy", "pandas", "scipy")
SCORING_KEY_TAG = "scoring_key"


def metric_name(key: str) -> str:
    """MLflow accepts letters, digits and `_-. :/` in metric names: class names may hold anything else."""
    return re.sub(r"[^A-Za-z0-9_\-. :/]", "_", key)


def git(*arguments: str) -> str | None:
    try:
        result = subprocess.run(["git", *arguments], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return result.stdout.strip()


def git_commit() -> str:
    return git("rev-parse", "HEAD") or "unknown"


def lineage_tags(key: str) -> dict[str, str]:
    """Where the run comes from: commit, experiment, changes against its baseline or not, the md5s of its files.

    A queued experiment runs from a commit DVC makes of the workspace, so the tree is compared with the
    experiment's baseline rather than with HEAD. What the pipeline writes to git-tracked files (dvc.lock,
    the metrics) is not a change.
    """
    head = git_commit()
    baseline = os.environ.get("DVC_EXP_BASELINE_REV") or head
    written = [f":(exclude){path}" for path in ("dvc.lock", config.METRICS_FILE)]
    changed = git("diff", "--name-only", baseline, "--", ".", *written)
    tags = {
        "git_commit": head,
        "baseline_commit": baseline,
        "dvc_experiment": run_name(),
        "git_dirty": "unknown" if changed is None else str(bool(changed)).lower(),
        "requirements_sha256": hashlib.sha256(config.LOCK_FILE.read_bytes()).hexdigest(),
    }
    tags.update({f"dvc_md5.{path}": stage.md5_of(path) for path in TRACKED_FILES})
    tags[SCORING_KEY_TAG] = key
    return tags


def model_code(directory: Path) -> Path:
    """A copy of the package holding just what loading the model imports: features.py and its imports."""
    package = directory / "mlproject"
    package.mkdir()
    for path in closure("mlproject.features"):
        if path.parts[1] == "mlproject":
            shutil.copyfile(SOURCE_ROOT.parent / path, package / path.name)
    return package


def scoring_key(params: config.Params) -> str:
    """What a cross-validated score depends on besides the model: the training split, the folds (seed and
    settings), the locked libraries and the project's scoring code. A run logs it; two runs with equal keys
    score any one model alike, so the champion's own score stands in for refitting it."""
    locks = [config.LOCK_FILE, *[path for path in (Path("requirements-model.txt"),) if path.exists()]]
    parts = {
        "train": stage.md5_of(config.TRAIN_DATA),
        "seed": params.seed,
        "evaluation": params.evaluation.model_dump(),
        "locks": {str(path): stage.md5_of(path) for path in locks},
        "code": {str(path): stage.md5_of(SOURCE_ROOT.parent / path) for path in closure("mlproject.validation")},
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def stored_score(mlflow_client, run_id: str, metric: str, key: str) -> float | None:
    """The comparison metric the run cross-validated, if its scoring key is `key`; else None."""
    run = mlflow_client.get_run(run_id)
    if run.data.tags.get(SCORING_KEY_TAG) != key:
        return None
    return run.data.metrics.get(metric_name(f"cv.{metric}.mean"))


def champion_score(
    mlflow_client, params: config.Params, train: pd.DataFrame, run_id: str, key: str
) -> tuple[float | None, str | None]:
    """The current champion's comparison metric cross-validated on this training split with the candidate's
    folds: as its run logged it when the scoring key is the same (the usual case on the main line), else
    refitted here; or why it cannot be scored here (another schema, task or library, a missing artifact)."""
    import mlflow

    registry = params.registry
    if (stored := stored_score(mlflow_client, run_id, params.comparison_metric, key)) is not None:
        return stored, None
    try:
        champion = mlflow.sklearn.load_model(f"models:/{registry.model_name}@{registry.champion_alias}")
        scores = cross_validate(champion, train, SCHEMA, params.evaluation, params.seed)
        return scores[params.comparison_metric]["mean"], None
    except Exception as error:  # noqa: BLE001 - whatever it is, the incumbent keeps the alias
        lines = str(error).strip().splitlines()
        return None, f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__


def unservable_because(model, test: pd.DataFrame, params: config.Params) -> str | None:
    """Why the model cannot be served (the export's conversion and parity check fail), or None."""
    from mlproject import conversion

    tolerance = params.export.tolerance
    try:
        converted = conversion.convert(model, SCHEMA, params.task, conversion.served_decimals(tolerance))
        conversion.parity(model, converted, test, SCHEMA, tolerance)
    except conversion.ConversionError as error:
        return str(error)
    return None


def log_run(
    params: config.Params,
    metrics: dict,
    model,
    decision: AliasDecision,
    experiment_id: str,
    train: pd.DataFrame,
    test: pd.DataFrame,
    key: str,
):
    """One MLflow run: params, metrics, lineage tags (`key`: its scoring key), reports, data sets and the model
    (with its code)."""
    import mlflow
    from mlflow.data.pandas_dataset import from_pandas
    from mlflow.models import infer_signature

    example = model_input(test, SCHEMA).head(5)
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name()) as active:
        # export.* shapes the serving bundle (its manifest records it), not the model: not a param of the run
        mlflow.log_params(config.flatten(params.model_dump(exclude={"export"})))
        mlflow.log_metrics({metric_name(k): float(cast(SupportsFloat, v)) for k, v in config.flatten(metrics).items()})
        servable = {} if decision.servable is None else {"servable": str(decision.servable).lower()}
        mlflow.set_tags({**lineage_tags(key), "task": params.task, "champion_decision": decision.reason, **servable})
        mlflow.log_artifact(str(config.METRICS_FILE), artifact_path=str(config.REPORTS_DIR))
        mlflow.log_artifacts(str(config.PLOTS_DIR), artifact_path=str(config.PLOTS_DIR))
        mlflow.log_artifacts(str(config.FIGURES_DIR), artifact_path=str(config.FIGURES_DIR))
        with warnings.catch_warnings():
            # MLflow registers its local-file source under two names and warns that a path matches both; and
            # integer classes make it hint, twice, that integers cannot be missing: labels never are.
            warnings.filterwarnings("ignore", message="The specified dataset source can be interpreted")
            warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer column")
            for frame, path, context in (
                (train, config.TRAIN_DATA, "training"),
                (test, config.TEST_DATA, "evaluation"),
            ):
                dataset = from_pandas(frame, source=str(path), name=path.stem, targets=SCHEMA.label)
                mlflow.log_input(dataset, context=context)
            signature = infer_signature(example, model.predict(example))
        with tempfile.TemporaryDirectory(prefix="model-code-") as staging:
            info = mlflow.sklearn.log_model(
                model,
                name="model",
                signature=signature,
                input_example=example,
                pip_requirements=[f"{name}=={metadata.version(name)}" for name in MODEL_PACKAGES],
                skops_trusted_types=trusted_types_of(config.MODEL_FILE.read_bytes()),
                code_paths=[str(model_code(Path(staging)))],  # loads where the package is not installed
            )
        return active.info.run_id, info


def register_version(mlflow_client, registry: config.RegistryParams, run_id: str, info, decision: AliasDecision) -> int:
    """A new model version of the run's model, and the alias if it moves: both, or neither."""
    from mlflow.exceptions import MlflowException

    try:
        mlflow_client.create_registered_model(registry.model_name)
    except MlflowException as error:
        if error.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
    created = mlflow_client.create_model_version(
        registry.model_name,
        info.model_uri,
        run_id=run_id,
        model_id=info.model_id,
        tags={"champion_decision": decision.reason},
    )
    version = int(created.version)
    try:
        if decision.move:
            mlflow_client.set_registered_model_alias(registry.model_name, registry.champion_alias, version)
    except BaseException:
        mlflow_client.delete_model_version(registry.model_name, version)
        raise
    return version


def runs_table_columns(params: config.Params) -> list[str]:
    """What the runs table shows: the champion rule's metrics first, then the knobs experiments turn (the seed,
    the features, the model). The UI draws only the columns a screen holds, in its own (alphabetical) order,
    so the rest of the params (data, evaluation) stay one click away, under Columns."""
    name, gate = params.comparison_metric, params.registry.gate.metric
    metrics = [f"metrics.cv.{name}.mean", f"metrics.cv.{name}.std", f"metrics.{gate}"]
    knobs = [key for key in config.flatten(params.model_dump()) if key.split(".")[0] in ("seed", "features", "model")]
    return [*dict.fromkeys(metrics), *(f"params.{key}" for key in knobs)]


def scores_of(metrics: dict, params: config.Params) -> tuple[float, float]:
    """The gate's metric on the test split and the comparison metric's cross-validated mean."""
    gate, name = params.registry.gate.metric, params.comparison_metric
    tested, cross_validated = metrics.get(gate), metrics.get("cv", {}).get(name, {}).get("mean")
    return _score(tested, gate), _score(cross_validated, f"cv.{name}.mean")


def _score(value: object, key: str) -> float:
    if not isinstance(value, float | int):
        raise TrackingError(f"{config.METRICS_FILE} has no {key}, which params.yaml's registry names; run `dvc repro`")
    return value


def run(params: config.Params) -> dict:
    SCHEMA.require_task(params.task)
    registry = params.registry
    metrics = files.read_json(config.METRICS_FILE)
    tested, candidate = scores_of(metrics, params)
    model = load_model(config.MODEL_FILE)
    train, test = read_table(config.TRAIN_DATA, SCHEMA), read_table(config.TEST_DATA, SCHEMA)
    experiment = os.environ.get("DVC_EXP_NAME")
    key = scoring_key(params)
    with store_lock(), mlflow_errors("registering the model"):
        mlflow_client = client()
        experiment_id = ensure_experiment(mlflow_client, registry.experiment_name)
        publish_runs_view(mlflow_client, experiment_id, runs_table_columns(params))
        incumbent = champion_version(mlflow_client, registry)
        previous = None if incumbent is None else int(incumbent.version)
        champion, unscored, unservable = None, None, None
        if failed_gate(registry.gate, tested) is None:
            unservable = unservable_because(model, test, params)
            if previous is not None and not experiment and unservable is None:
                champion, unscored = champion_score(mlflow_client, params, train, incumbent.run_id, key)
        decision = decide_alias(params, tested, candidate, champion, experiment, unscored, unservable)
        run_id, info = log_run(params, metrics, model, decision, experiment_id, train, test, key)
        version = register_version(mlflow_client, registry, run_id, info, decision) if decision.register else None
    return {
        "run_name": run_name(),
        "model_name": registry.model_name,
        "version": version,
        "alias": registry.champion_alias,
        "alias_moved": decision.move,
        "previous_champion_version": previous,
        "reason": decision.reason,
    }


def write_registration() -> str:
    outcome = run(config.load_params(tuned=config.TUNED_FILE))
    files.write_json(config.REGISTRATION_FILE, outcome)
    if outcome["version"] is None:
        return f"{outcome['model_name']}: no new version, the run is logged only: {outcome['reason']}"
    verdict = "now" if outcome["alias_moved"] else "NOT"
    return (
        f"{outcome['model_name']} version {outcome['version']} is {verdict} '{outcome['alias']}': {outcome['reason']}"
    )


def main() -> int:
    return stage.run("register", write_registration)


if __name__ == "__main__":
    sys.exit(main())
