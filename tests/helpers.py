"""What the tests share besides fixtures: scratch copies of the project, the examples, synthetic data, bundles."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from functools import cache
from importlib.metadata import version
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import yaml
from sklearn.pipeline import Pipeline

from mlproject import config, conversion, export, files
from mlproject.estimators import build_steps
from mlproject.inputs import model_input, target
from mlproject.schema import CategoricalColumn, DatasetSchema, NumericColumn
from mlserve import manifest as contract

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
EXAMPLES = REPO / "examples"
DEFAULT_EXAMPLE = "penguins"
MLFLOW_VERSION = version("mlflow")  # what the export stage records of the MLflow that logged a model
# The files an example may hold, and where `make use-example` puts them.
EXAMPLE_FILES = {
    "dataset.py": "src/mlproject/dataset.py",
    "features.py": "src/mlproject/features.py",
    "params.yaml": "params.yaml",
}

# A regression pipeline of several steps, and columns with names ONNX must rename, for the export's tests.
REGRESSION = config.parse_params({
    "task": "regression",
    "registry": {"gate": {"metric": "r2", "min": 0.1}},
    "model": {"steps": {"scale": {"estimator": "MinMaxScaler"},
                        "select": {"estimator": "SelectKBest", "params": {"score_func": "f_regression", "k": 2}},
                        "regress": {"estimator": "LinearRegression"}}},
})  # fmt: skip
ODD_NAMES = DatasetSchema(
    features=(
        NumericColumn("od280/od315 ratio", minimum=0.0, maximum=5.0),
        NumericColumn("two words", minimum=0.0, maximum=1.0),
        NumericColumn("plain", minimum=-1.0, maximum=1.0),
        CategoricalColumn("kind/of", categories=("a", "b")),
    ),
    target=NumericColumn("y", minimum=0.0, maximum=100.0),
    min_rows=10,
)


def example_names() -> list[str]:
    return sorted(path.name for path in EXAMPLES.iterdir() if path.is_dir())


def example_files(name: str) -> dict[str, Path]:
    """Project path -> the file an example puts there: its own, else the default example's."""
    chosen = {}
    for file, destination in EXAMPLE_FILES.items():
        own = EXAMPLES / name / file
        chosen[destination] = own if own.exists() else EXAMPLES / DEFAULT_EXAMPLE / file
    return chosen


def active_example(root: Path = REPO) -> str | None:
    """The example the project is now (its files equal the example's), or None for a project of your own."""
    for name in example_names():
        if all((root / target).read_bytes() == source.read_bytes() for target, source in example_files(name).items()):
            return name
    return None


def load_module(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def penguins_example() -> ModuleType:
    """The default example's dataset module, whichever example the project is now."""
    return load_module(EXAMPLES / DEFAULT_EXAMPLE / "dataset.py", "penguins_example_dataset")


@cache
def penguins_regression() -> DatasetSchema:
    """The penguins predicting body mass from the other columns and the species: a regression with categories."""
    penguins = penguins_example().SCHEMA
    return DatasetSchema(
        features=tuple(c for c in penguins.features if c.name != "body_mass_g")
        + (CategoricalColumn("species", ("Adelie", "Chinstrap", "Gentoo")),),
        target=NumericColumn("body_mass_g", 2000.0, 7000.0, nullable=False),
        min_rows=100,
    )


@cache
def default_features() -> ModuleType:
    return load_module(EXAMPLES / DEFAULT_EXAMPLE / "features.py", "default_example_features")


def fit_reference(train: pd.DataFrame, params: config.Params, schema: DatasetSchema) -> Pipeline:
    """A pipeline fitted with the default example's features.py, whichever features.py is active.

    Tests of the server and the export use models of their own schemas; the user's feature code (which
    may name their own columns) must not decide whether those can be built.
    """
    preprocess = default_features().build_preprocessor(schema, params.features)
    pipeline = Pipeline([("preprocess", preprocess), *build_steps(params)])
    return pipeline.fit(model_input(train, schema), target(train, schema))


def synthetic_frame(schema: DatasetSchema, rows: int, seed: int = 0) -> pd.DataFrame:
    """Rows that hold `schema`: numbers in range (a few missing where allowed), known categories, a learnable target.

    The target follows the first numeric column (classes by its quantiles; a linear trend for regression),
    so any estimator can learn something and a split stratifies.
    """
    generator = np.random.default_rng(seed)
    frame = {}
    for column in schema.features:
        if isinstance(column, NumericColumn):
            values = generator.uniform(column.minimum, column.maximum, rows)
            frame[column.name] = values
        else:
            frame[column.name] = generator.choice(np.array(column.categories, dtype=object), rows)
    data = pd.DataFrame(frame)
    driver = data[schema.numeric[0]].to_numpy() if schema.numeric else generator.uniform(0, 1, rows)
    target = schema.target
    if isinstance(target, CategoricalColumn):
        ranks = np.argsort(np.argsort(driver))
        data[target.name] = [target.categories[int(r * len(target.categories) / rows)] for r in ranks]
    else:
        scaled = (driver - driver.min()) / (np.ptp(driver) or 1.0)
        data[target.name] = target.minimum + (target.maximum - target.minimum) * (0.1 + 0.8 * scaled)
    for column in schema.features:
        if column.nullable:
            data.loc[generator.choice(rows, size=max(rows // 50, 1), replace=False), column.name] = None
    return data


def write_bundle(directory: Path, fitted, test: pd.DataFrame, schema: DatasetSchema, task: str | None = None) -> Path:
    """What the export stage writes (model.onnx, manifest.json), for a model fitted in the tests."""
    task = task or schema.task
    tolerance = config.Tolerance() if task == "classification" else config.Tolerance(absolute=1e-4, relative=1e-5)
    converted = conversion.convert(fitted, schema, task, conversion.served_decimals(tolerance))
    checked = conversion.parity(fitted, converted, test, schema, tolerance)
    document = export.build_manifest(
        "penguins-classifier", 7, fitted, converted, checked, schema, tolerance, MLFLOW_VERSION
    )
    files.write_bytes(directory / export.MODEL_FILENAME, converted.model)
    files.write_json(directory / contract.MANIFEST_FILE, contract.encode(document))
    return directory


def dvc_md5(path: Path) -> str | None:
    """The md5 dvc.lock records for an output: of the file, or of a folder's listing (`<md5>.dir`); None if absent."""
    if path.is_file():
        return hashlib.md5(path.read_bytes()).hexdigest()
    if not path.is_dir():
        return None
    listing = [
        {"md5": hashlib.md5(file.read_bytes()).hexdigest(), "relpath": file.relative_to(path).as_posix()}
        for file in sorted(path.rglob("*"))
        if file.is_file()
    ]
    return hashlib.md5(json.dumps(listing, sort_keys=True).encode()).hexdigest() + ".dir"


def project_env(**overrides: str) -> dict[str, str]:
    """The environment a user has after `source .venv/bin/activate`, with no team tracking server.

    Without pytest's variable, which changes with every test: the stages of all tests share warm runners.
    """
    env = {k: v for k, v in os.environ.items() if k not in (config.TRACKING_URI_VARIABLE, "PYTEST_CURRENT_TEST")}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["GIT_AUTHOR_NAME"] = env["GIT_COMMITTER_NAME"] = "test"
    env["GIT_AUTHOR_EMAIL"] = env["GIT_COMMITTER_EMAIL"] = "test@localhost"
    env.update(overrides)
    return env


@dataclass
class Project:
    """A scratch copy of the project (its git-tracked files, committed in a new repository)."""

    root: Path

    def run(self, *command: str, check: bool = True, timeout: float = 600, **env: str) -> subprocess.CompletedProcess:
        environment = project_env(**env)
        own = self.root / ".venv/bin"  # an example with packages of its own installs them in the copy's venv
        if own.is_dir():
            environment["PATH"] = f"{own}{os.pathsep}{environment['PATH']}"
        result = subprocess.run(
            command, cwd=self.root, env=environment, capture_output=True, text=True, timeout=timeout
        )
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        return result

    def lock(self) -> dict:
        return yaml.safe_load((self.root / "dvc.lock").read_text())

    def out_md5s(
        self, stages: tuple[str, ...] = ("load_data", "prepare", "train", "evaluate", "export")
    ) -> dict[str, str]:
        lock = self.lock()["stages"]
        return {out["path"]: out["md5"] for stage in stages for out in lock[stage]["outs"]}

    def params(self) -> config.Params:
        """The copy's params as typed values; its estimators are built by its own stages, with its own code."""
        return config.load_params(self.root / "params.yaml", build_estimators=False)

    def set_param(self, dotted: str, value: object) -> None:
        path = self.root / "params.yaml"
        document = yaml.safe_load(path.read_text())
        *parents, leaf = dotted.split(".")
        node = document
        for key in parents:
            node = node[key]
        node[leaf] = value
        path.write_text(yaml.safe_dump(document, sort_keys=False))

    def snapshot(self, *relative: str) -> dict[str, bytes]:
        return {name: (self.root / name).read_bytes() for name in relative}

    def use_example(self, name: str) -> None:
        self.run("make", "--no-print-directory", "use-example", f"EXAMPLE={name}")
        if (self.root / "requirements-model.txt").exists():  # its own packages: a venv of its own, as a user's
            self.run("make", "--no-print-directory", "venv", timeout=900)
        self.run("git", "add", "-A")
        self.run("git", "commit", "-q", "--allow-empty", "-m", f"use the {name} example")


def copy_project(destination: Path) -> Project:
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, text=True, check=True)
    for name in filter(None, tracked.stdout.split("\0")):
        source = REPO / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    project = Project(destination)
    project.run("git", "init", "-q", "-b", "main")
    project.run("git", "add", "-A")
    project.run("git", "commit", "-q", "-m", "scratch copy")
    return project


def regression_schema() -> DatasetSchema:
    """A regression data set for the serving tests: a column name ONNX renames, a category, nulls allowed."""
    return DatasetSchema(
        features=(
            NumericColumn("od280/od315 ratio", 1.0, 4.0),
            NumericColumn("alcohol", 11.0, 15.0),
            CategoricalColumn("colour", categories=("red", "white")),
        ),
        target=NumericColumn("quality", 0.0, 300.0),
        min_rows=50,
    )


def regression_params() -> config.Params:
    return config.parse_params(
        {
            "task": "regression",
            "model": {"steps": {"regress": {"estimator": "LinearRegression"}}},
            "registry": {"gate": {"metric": "r2", "min": 0.1}},
        }
    )


def integer_class_schema() -> DatasetSchema:
    """A classification data set whose classes are the integers 0, 1 and 2 (ONNX returns int64 labels)."""
    return DatasetSchema(
        features=(NumericColumn("x", 0.0, 10.0), CategoricalColumn("c", categories=("p", "q"))),
        target=CategoricalColumn("k", categories=(0, 1, 2)),
        min_rows=50,
    )


@dataclass(frozen=True)
class ServedModel:
    """A model of a schema of the tests' own: its split, the fitted pipeline, and its exported bundle."""

    splits: tuple[pd.DataFrame, pd.DataFrame]
    fitted: Pipeline
    bundle_dir: Path


def served_model(schema: DatasetSchema, params: config.Params, directory: Path) -> ServedModel:
    from mlproject.prepare import split

    splits = split(synthetic_frame(schema, rows=240, seed=1), schema, test_size=0.2, seed=42)
    fitted = fit_reference(splits[0], params, schema)
    return ServedModel(splits, fitted, write_bundle(directory, fitted, splits[1], schema))


def chromium(url: str, *output: str) -> subprocess.CompletedProcess:
    """Headless chromium (Debian's) on `url`; a wide window: pages put in only the columns they have room for."""
    command = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=15000",
               "--window-size=2400,1200", *output, url]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)
