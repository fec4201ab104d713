"""Paths and typed parameters: the one place that knows where things live and what params.yaml may say.

Every stage runs from the project root (DVC's working directory), so paths are relative to it.
`params.yaml` is parsed once into frozen pydantic models that reject unknown keys, wrong types and
out-of-range values; the model's estimators are checked by scikit-learn's own parameter validation
(`mlproject.estimators`). Every error names the offending key before any work is done.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError, field_validator, model_validator

from mlproject.stage import StageError

if TYPE_CHECKING:
    from mlproject.schema import DatasetSchema

PARAMS_FILE = Path("params.yaml")
PARAMS_SCHEMA_FILE = Path("params.schema.json")

RAW_DATA = Path("data/raw/dataset.csv")
PROCESSED_DIR = Path("data/processed")
TRAIN_DATA = PROCESSED_DIR / "train.csv"
TEST_DATA = PROCESSED_DIR / "test.csv"

MODELS_DIR = Path("models")
MODEL_FILE = MODELS_DIR / "model.skops"
TUNED_FILE = MODELS_DIR / "tuned.yaml"  # the `tune` stage's best hyperparameters, by step; train reads them
TUNED_KEY = "tuned"

REPORTS_DIR = Path("reports")
METRICS_FILE = REPORTS_DIR / "metrics.json"
PLOTS_DIR = REPORTS_DIR / "plots"
FIGURES_DIR = REPORTS_DIR / "figures"
REGISTRATION_FILE = REPORTS_DIR / "registration.json"
CHAMPION_FILE = MODELS_DIR / "champion.json"
SERVING_DIR = MODELS_DIR / "serving"

LOCK_FILE = Path("requirements.txt")
TRACKING_URI_VARIABLE = "MLFLOW_TRACKING_URI"
TEAM_ENV = Path("team.env")  # `make team-env` writes it (git-ignored): the team server and its credentials

Task = Literal["classification", "regression"]

# The metrics `evaluate` writes for each task, and which way is better: the gate may name any of them.
METRICS: dict[str, dict[str, Literal["higher", "lower"]]] = {
    "classification": {
        "accuracy": "higher", "macro_f1": "higher", "log_loss": "lower", "brier": "lower", "roc_auc": "higher",
        "average_precision": "higher",
    },
    "regression": {"r2": "higher", "rmse": "lower", "mae": "lower"},
}  # fmt: skip
# A candidate is compared with the champion on a proper scoring rule by default: it rarely ties. A classifier
# without probabilities is compared on the best metric it allows (`usable_metrics`).
DEFAULT_COMPARISON = {"classification": ("log_loss", "roc_auc", "macro_f1"), "regression": ("rmse",)}


def usable_metrics(task: str, scores: str | None, classes: int | None) -> list[str]:
    """The metrics `evaluate` can compute for a model: a classifier's depend on what it gives beside labels
    (`probabilities`, `decision_function` scores, or nothing) and on the number of classes (None: unknown)."""
    if task == "regression":
        return list(METRICS["regression"])
    two = classes in (2, None)
    usable = {"accuracy", "macro_f1"}
    if scores == "probabilities":
        usable |= {"log_loss", "brier", "roc_auc"}
    if scores == "decision_function" and two:
        usable.add("roc_auc")
    if scores is not None and two:
        usable.add("average_precision")
    return [name for name in METRICS["classification"] if name in usable]


class ParamsError(StageError, ValueError):
    """params.yaml does not hold: the message names every offending key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class DataParams(_Strict):
    test_size: Annotated[float, Field(gt=0.05, lt=0.5, description="share of rows held out for evaluation")] = 0.2
    missing_target: Literal["refuse", "drop"] = Field(
        "refuse", description="rows whose target is missing: refuse the data (naming them), or drop them (counted)"
    )


class FeatureParams(_Strict):
    numeric_imputation: Literal["mean", "median"] = "median"
    scale_numbers: bool = Field(
        False, description="standardise numbers (linear models, SVMs, k-NN need it; trees do not)"
    )


class _Range(_Strict):
    log: bool = Field(False, description="sample on a log scale (both bounds must then be above 0)")

    @property
    def edges(self) -> list:
        """The values that show whether the estimator takes the whole space: both bounds."""
        return list(self.bounds)  # type: ignore[attr-defined]

    @model_validator(mode="after")
    def _ordered(self) -> _Range:
        low, high = self.bounds  # type: ignore[attr-defined]
        if low >= high:
            raise ValueError(f"the lower bound {low} must be below the upper bound {high}")
        if self.log and low <= 0:
            raise ValueError(f"a log scale needs bounds above 0, not {low}")
        return self


class IntRange(_Range):
    bounds: Annotated[list[int], Field(min_length=2, max_length=2)] = Field(
        alias="int", description="integers from the first to the second, both included"
    )


class FloatRange(_Range):
    bounds: Annotated[list[float], Field(min_length=2, max_length=2)] = Field(
        alias="float", description="numbers from the first to the second"
    )


Scalar = bool | int | float | str | None


class Choice(_Strict):
    choice: Annotated[list[Any], Field(min_length=1, description="the values to choose from")]

    @field_validator("choice")
    @classmethod
    def _scalars(cls, values: list[Any]) -> list[Any]:
        if nested := [value for value in values if not isinstance(value, Scalar)]:
            raise ValueError(f"a choice is among numbers, strings, booleans and null, not {nested[0]!r}")
        return values

    @property
    def edges(self) -> list:
        return list(self.choice)


def _space_kind(value: object) -> str | None:
    """Which kind of search space a mapping of params.yaml declares, by its one key naming it."""
    if isinstance(value, dict):
        return next((kind for kind in ("int", "float", "choice") if kind in value), None)
    return next((kind for kind, cls in SPACE_KINDS.items() if isinstance(value, cls)), None)


Space = IntRange | FloatRange | Choice  # one search space, of whichever kind
SPACE_KINDS = {"int": IntRange, "float": FloatRange, "choice": Choice}
SearchSpace = Annotated[
    Annotated[IntRange, Tag("int")] | Annotated[FloatRange, Tag("float")] | Annotated[Choice, Tag("choice")],
    Discriminator(
        _space_kind,
        custom_error_type="search_space",
        custom_error_message="a search space is {int: [low, high]}, {float: [low, high]} or {choice: [values]}",
    ),
]


class StepParams(_Strict):
    estimator: Annotated[
        str,
        Field(
            min_length=1,
            description="a scikit-learn class (RandomForestClassifier or sklearn.ensemble.RandomForestClassifier), "
            "or a class of features.py",
        ),
    ]
    params: dict[str, Any] = Field(default_factory=dict, description="its hyperparameters, as scikit-learn names them")
    search: dict[str, SearchSpace] = Field(
        default_factory=dict,
        description="hyperparameters the `tune` stage searches (its best values replace those of params); "
        "e.g. {n_estimators: {int: [50, 500]}, max_depth: {choice: [null, 4, 8]}}",
    )


def _default_steps() -> dict[str, StepParams]:
    return {"classify": StepParams(estimator="sklearn.ensemble.RandomForestClassifier")}


class ModelParams(_Strict):
    steps: Annotated[
        dict[str, StepParams],
        Field(min_length=1, description="the steps after the feature preprocessing, in order; the last one predicts"),
    ] = Field(default_factory=_default_steps)


AnyMetric = Literal["accuracy", "macro_f1", "log_loss", "brier", "roc_auc", "average_precision", "r2", "rmse", "mae"]


class GateParams(_Strict):
    metric: AnyMetric = Field("macro_f1", description="a metric evaluate writes for the task")
    min: float | None = Field(None, description="the metric must be at least this (for metrics where higher is better)")
    max: float | None = Field(None, description="the metric must be at most this (for metrics where lower is better)")


class ComparisonParams(_Strict):
    metric: AnyMetric | None = Field(
        None,
        description="the cross-validated metric a candidate must beat the champion on (default: log loss, or for a "
        "classifier without probabilities ROC AUC where it can be had, else macro F1; RMSE for regression)",
    )
    tolerance: Annotated[float, Field(ge=0, description="the alias moves only for a strictly larger improvement")] = 0.0


class RegistryParams(_Strict):
    experiment_name: Annotated[str, Field(min_length=1, max_length=200)] = "default"
    model_name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$")] = "model"
    champion_alias: Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")] = "champion"
    gate: GateParams = GateParams(metric="macro_f1", min=0.9)
    comparison: ComparisonParams = ComparisonParams()


class EvaluationParams(_Strict):
    folds: Annotated[int, Field(ge=2, le=20, description="cross-validation folds on the training split")] = 5
    repeats: Annotated[int, Field(ge=1, le=20, description="repetitions of the K folds, each shuffled anew")] = 2


class TuningParams(_Strict):
    method: Literal["grid", "random", "tpe"] = Field(
        "tpe", description="grid: every combination (ranges at evenly spaced points); random; tpe: Optuna's TPE"
    )
    trials: Annotated[int, Field(ge=1, le=10_000, description="settings tried, each cross-validated")] = 50
    batch: Annotated[
        int,
        Field(
            ge=1,
            le=1_000,
            description="trials proposed at a time, before any of their scores is known: the search is the same "
            "on any number of workers, and this many trials (times the folds) can run at once",
        ),
    ] = 8
    metric: AnyMetric | None = Field(None, description="what the search optimises (default: the comparison metric)")


class Tolerance(_Strict):
    """An exported model (ONNX, PMML) and scikit-learn agree when |exported - sklearn| <= absolute + relative *
    |sklearn| (numpy's isclose)."""

    absolute: Annotated[float, Field(ge=0, le=1)] = 1e-5
    relative: Annotated[float, Field(ge=0, le=1)] = 0.0


class ExportParams(_Strict):
    tolerance: Tolerance = Tolerance()
    pmml: bool = Field(
        False, description="also export the model as PMML, for Java consumers (needs a Java runtime, 11 or newer)"
    )


def _metrics_of_the_task(schema: dict) -> None:
    """JSON Schema: the gate's and the comparison's metric are the task's (classification when `task` is absent)."""

    def metrics(task: str) -> dict:
        names = list(METRICS[task])
        gate, comparison = {"metric": {"enum": names}}, {"metric": {"enum": [*names, None]}}
        return {"properties": {"registry": {"properties": {
            "gate": {"properties": gate}, "comparison": {"properties": comparison}}},
            "tuning": {"properties": comparison}}}  # fmt: skip

    regression = {"properties": {"task": {"const": "regression"}}, "required": ["task"]}
    schema["allOf"] = [{"if": regression, "then": metrics("regression"), "else": metrics("classification")}]


class Params(_Strict):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, json_schema_extra=_metrics_of_the_task)

    seed: Annotated[int, Field(ge=0, le=2**32 - 1, description="every random_state derives from this one number")] = 42
    task: Task = "classification"
    data: DataParams = DataParams()
    features: FeatureParams = FeatureParams()
    model: ModelParams = ModelParams()
    evaluation: EvaluationParams = EvaluationParams()
    tuning: TuningParams = TuningParams()
    registry: RegistryParams = RegistryParams()
    export: ExportParams = ExportParams()

    @model_validator(mode="after")
    def _gate_fits_the_task(self) -> Params:
        gate, metrics = self.registry.gate, METRICS[self.task]
        if gate.metric not in metrics:
            raise ValueError(
                f"registry.gate.metric: {gate.metric!r} is not a {self.task} metric; one of {', '.join(metrics)}"
            )
        if (gate.min is None) == (gate.max is None):
            raise ValueError("registry.gate: give exactly one of min and max")
        wanted = "min" if metrics[gate.metric] == "higher" else "max"
        if getattr(gate, wanted) is None:
            raise ValueError(f"registry.gate: {gate.metric} is better when {metrics[gate.metric]}: give {wanted}")
        for key, metric in (
            ("registry.comparison.metric", self.registry.comparison.metric),
            ("tuning.metric", self.tuning.metric),
        ):
            if metric not in (None, *metrics):
                raise ValueError(f"{key}: {metric!r} is not a {self.task} metric; one of {', '.join(metrics)}")
        return self

    @property
    def tuning_metric(self) -> str:
        return self.tuning.metric or self.comparison_metric

    @property
    def search(self) -> dict[str, dict[str, Space]]:
        """The declared search, by step; empty when no step declares one."""
        return {name: dict(step.search) for name, step in self.model.steps.items() if step.search}

    @property
    def comparison_metric(self) -> str:
        """The comparison's metric; `parse_params` settles a default the model cannot give (`with_comparison`)."""
        return self.registry.comparison.metric or DEFAULT_COMPARISON[self.task][0]

    def with_comparison(self, usable: list[str]) -> Params:
        """The same params with the default comparison metric settled for a model that allows `usable`."""
        if self.registry.comparison.metric is not None:
            return self
        metric = next((name for name in DEFAULT_COMPARISON[self.task] if name in usable), self.comparison_metric)
        comparison = self.registry.comparison.model_copy(update={"metric": metric})
        return self.model_copy(update={"registry": self.registry.model_copy(update={"comparison": comparison})})


def describe_validation_error(error: ValidationError, source: str) -> str:
    """One line per problem, each naming the dotted key, e.g. `model.steps.classify.estimator`."""
    lines = [f"{source} is invalid:"]
    for problem in error.errors():
        parts = [str(part) for part in problem["loc"]]
        # a search space's kind is in the path twice: as the union's tag, then as the field it names
        key = ".".join(part for index, part in enumerate(parts) if parts[index + 1 : index + 2] != [part])
        message = problem["msg"]
        if problem["type"] == "extra_forbidden":
            message = "unknown key"
        elif problem["type"] == "value_error":
            message = message.removeprefix("Value error, ")
        elif problem["type"] != "missing":
            message += f" (got {problem['input']!r})"
        lines.append(f"  {key}: {message}" if key else f"  {message}")
    return "\n".join(lines)


def parse_params(
    raw: object, source: str = "params.yaml", build_estimators: bool = True, schema: DatasetSchema | None = None
) -> Params:
    """Turn the YAML document into typed parameters, or raise ParamsError naming each bad key.

    The model's steps are then built once with scikit-learn, whose own validation names a wrong
    hyperparameter, type or range (a second or so of imports, which a stage that only reads the
    registry's settings skips with `build_estimators=False`). Given the data's schema, the model must also
    be one that can be served, on this data, with metrics it gives (`estimators.build_steps`).
    """
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ParamsError(f"{source} must be a mapping of keys to values, not {type(raw).__name__}")
    try:
        params = Params.model_validate(raw)
    except ValidationError as error:
        raise ParamsError(describe_validation_error(error, source)) from None
    if not build_estimators:
        return params
    from mlproject.estimators import EstimatorError, build_steps, check_search, check_servable, class_scores

    try:
        steps = build_steps(params)
        check_search(params)
        classes = len(schema.classes) if schema is not None else None
        scores = class_scores(steps[-1][1]) if params.task == "classification" else None
        params = params.with_comparison(usable_metrics(params.task, scores, classes))
        check_servable(steps, params, schema)
    except EstimatorError as error:
        raise ParamsError(f"{source} is invalid:\n  {error}") from None
    return params


def tuned_yaml(best: dict) -> str:
    """The `tune` stage's file: the best values by step under one key. Never an empty document: DVC keeps no
    run-cache for a stage whose params file holds no value (train's, when nothing is searched)."""
    return yaml.safe_dump({TUNED_KEY: best}, sort_keys=True)


def with_tuned(raw: object, path: Path | None) -> object:
    """params.yaml's document with the `tune` stage's best values in place of the hand-set ones it searched.

    The file is the stage's output, so a name in it that params.yaml no longer searches means the pipeline
    has not run since params.yaml changed: said, rather than applied.
    """
    if path is None or not path.is_file() or not isinstance(raw, dict):
        return raw
    tuned = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get(TUNED_KEY) or {}
    if not tuned:
        return raw
    merged = copy.deepcopy(raw)
    steps = (merged.get("model") or {}).get("steps") or {}
    for step, values in tuned.items():
        declared = steps.get(step)
        searched = declared.get("search") if isinstance(declared, dict) else None
        stale = sorted(set(values) - set(searched or {})) if isinstance(values, dict) else [step]
        if stale or not isinstance(declared, dict):
            raise ParamsError(
                f"{path} sets model.steps.{step}.params.{(stale or ['*'])[0]}, which params.yaml does not search "
                "(any more): run `dvc repro`, which tunes again"
            )
        declared["params"] = {**(declared.get("params") or {}), **values}
    return merged


def load_params(path: Path = PARAMS_FILE, build_estimators: bool = True, tuned: Path | None = None) -> Params:
    """params.yaml, checked; with `tuned` (TUNED_FILE), the values the `tune` stage found in place of the
    hand-set ones: for the stages that depend on that file (train, register)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ParamsError(f"{path} not found: run from the project root") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ParamsError(f"{path} is not valid YAML: {error}") from None
    raw = with_tuned(raw, tuned)
    if not build_estimators:  # a stage that only reads the registry's settings imports no scikit-learn
        return parse_params(raw, str(path), build_estimators=False)
    from mlproject.dataset import SCHEMA

    return parse_params(raw, str(path), schema=SCHEMA)


def params_json_schema() -> dict:
    """The JSON Schema of params.yaml, for editors (the `yaml-language-server` line at its top)."""
    schema = Params.model_json_schema()
    schema["title"] = "params.yaml"
    return schema


def flatten(mapping: dict, prefix: str = "") -> dict[str, object]:
    """`{"model": {"n_jobs": 1}}` -> `{"model.n_jobs": 1}`, the way DVC and MLflow name parameters."""
    flat: dict[str, object] = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
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


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines (the first `=` splits; `#` starts a comment line), as team.env and deploy/stack.env hold."""
    pairs = (line.partition("=") for line in path.read_text(encoding="utf-8").splitlines())
    return {key.strip(): value.strip() for key, equals, value in pairs if equals and not key.lstrip().startswith("#")}


def use_team_env() -> None:
    """The settings of the project's team.env into the environment, where MLflow's client reads them
    (server address, user, password); what the environment already says wins."""
    path = project_root() / TEAM_ENV
    if path.is_file():
        for key, value in read_env_file(path).items():
            os.environ.setdefault(key, value)


def tracking_uri() -> str:
    """`MLFLOW_TRACKING_URI` (or team.env's) for a team server, else the embedded SQLite store in the project."""
    use_team_env()
    return os.environ.get(TRACKING_URI_VARIABLE) or f"sqlite:///{project_root() / 'mlflow.db'}"
