"""Paths and typed parameters: the one place that knows where things live and what params.yaml may say.

Every stage runs from the project root (DVC's working directory), so paths are relative to it.
`params.yaml` is parsed once into frozen pydantic models that reject unknown keys, wrong types and
out-of-range values, and the error names the offending key before any work is done.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mlproject.stage import StageError

PARAMS_FILE = Path("params.yaml")

RAW_DATA = Path("data/raw/penguins.csv")
PROCESSED_DIR = Path("data/processed")
TRAIN_DATA = PROCESSED_DIR / "train.csv"
TEST_DATA = PROCESSED_DIR / "test.csv"

MODELS_DIR = Path("models")
MODEL_FILE = MODELS_DIR / "model.skops"

REPORTS_DIR = Path("reports")
METRICS_FILE = REPORTS_DIR / "metrics.json"
PLOTS_DIR = REPORTS_DIR / "plots"
CONFUSION_FILE = PLOTS_DIR / "confusion.csv"
ROC_FILE = PLOTS_DIR / "roc.csv"
REGISTRATION_FILE = REPORTS_DIR / "registration.json"
SERVING_DIR = MODELS_DIR / "serving"

LOCK_FILE = Path("requirements.txt")
TRACKING_URI_VARIABLE = "MLFLOW_TRACKING_URI"


class ParamsError(StageError, ValueError):
    """params.yaml does not hold: the message names every offending key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class DataParams(_Strict):
    test_size: Annotated[float, Field(gt=0.05, lt=0.5)] = 0.2


class RandomForestParams(_Strict):
    n_estimators: Annotated[int, Field(ge=1, le=2000)] = 100
    max_depth: Annotated[int, Field(ge=1, le=100)] | None = None
    min_samples_leaf: Annotated[int, Field(ge=1, le=1000)] = 1


class LogisticRegressionParams(_Strict):
    C: Annotated[float, Field(gt=0, le=1e6)] = 1.0
    max_iter: Annotated[int, Field(ge=10, le=100_000)] = 1000


class TrainParams(_Strict):
    classifier: Literal["random_forest", "logistic_regression"] = "random_forest"
    random_forest: RandomForestParams = RandomForestParams()
    logistic_regression: LogisticRegressionParams = LogisticRegressionParams()
    numeric_imputation: Literal["mean", "median"] = "median"
    n_jobs: Annotated[int, Field(ge=1, le=64)] = 1


class QualityGate(_Strict):
    min_macro_f1: Annotated[float, Field(ge=0, le=1)] = 0.9


class RegistryParams(_Strict):
    experiment_name: Annotated[str, Field(min_length=1, max_length=200)] = "penguins"
    model_name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$")] = "penguins-classifier"
    champion_alias: Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")] = "champion"
    quality_gate: QualityGate = QualityGate()


class Params(_Strict):
    seed: Annotated[int, Field(ge=0, le=2**32 - 1)] = 42
    data: DataParams = DataParams()
    train: TrainParams = TrainParams()
    registry: RegistryParams = RegistryParams()


def describe_validation_error(error: ValidationError, source: str) -> str:
    """One line per problem, each naming the dotted key, e.g. `train.random_forest.n_estimators`."""
    lines = [f"{source} is invalid:"]
    for problem in error.errors():
        key = ".".join(str(part) for part in problem["loc"]) or "(top level)"
        message = problem["msg"]
        if problem["type"] == "extra_forbidden":
            message = "unknown key"
        elif problem["type"] != "missing":
            message += f" (got {problem['input']!r})"
        lines.append(f"  {key}: {message}")
    return "\n".join(lines)


def parse_params(raw: object, source: str = "params.yaml") -> Params:
    """Turn the YAML document into typed parameters, or raise ParamsError naming each bad key."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ParamsError(f"{source} must be a mapping of keys to values, not {type(raw).__name__}")
    try:
        return Params.model_validate(raw)
    except ValidationError as error:
        raise ParamsError(describe_validation_error(error, source)) from None


def load_params(path: Path = PARAMS_FILE) -> Params:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ParamsError(f"{path} not found: run from the project root") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ParamsError(f"{path} is not valid YAML: {error}") from None
    return parse_params(raw, str(path))


def flatten(mapping: dict, prefix: str = "") -> dict[str, object]:
    """`{"train": {"n_jobs": 1}}` -> `{"train.n_jobs": 1}`, the way DVC and MLflow name parameters."""
    flat: dict[str, object] = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def project_root(cwd: Path | None = None) -> Path:
    """The project the stage belongs to, also when DVC runs a queued experiment in `.dvc/tmp/exps/<tmp>`.

    Queued experiments run in a throw-away copy; the tracking store must be the project's own, or their
    MLflow runs vanish with the copy.
    """
    cwd = (cwd or Path.cwd()).resolve()
    parts = cwd.parts
    for index in range(len(parts) - 3):
        if parts[index : index + 3] == (".dvc", "tmp", "exps"):
            return Path(*parts[:index])
    return cwd


def tracking_uri() -> str:
    """`MLFLOW_TRACKING_URI` for a team server, else the embedded SQLite store in the project."""
    return os.environ.get(TRACKING_URI_VARIABLE) or f"sqlite:///{project_root() / 'mlflow.db'}"
