"""Fixtures only: the active project's schema and params with synthetic data, the penguins example's real
data and model (what the serving tests use, whichever example is active), and scratch copies for end-to-end runs.

Tests marked `penguins` are about the default example; they are skipped when another is the active project.
"""

from __future__ import annotations

import os
import shutil

import pytest

from mlproject import config, dataset, runner
from mlproject.prepare import split
from mlproject.schema import clean
from mlproject.train import fit
from tests.helpers import (
    DEFAULT_EXAMPLE,
    REPO,
    Project,
    ServedModel,
    active_example,
    copy_project,
    fit_reference,
    integer_class_schema,
    penguins_example,
    regression_params,
    regression_schema,
    served_model,
    synthetic_frame,
    write_bundle,
)


@pytest.fixture(scope="session", autouse=True)
def warm_runners(tmp_path_factory):
    """The warm runners the tests' stages start live in this session's folder, idle out soon, and end with it."""
    folder = tmp_path_factory.mktemp("warm")
    folder.chmod(0o700)
    saved = {name: os.environ.get(name) for name in (runner.DIRECTORY_VARIABLE, runner.IDLE_VARIABLE)}
    os.environ[runner.DIRECTORY_VARIABLE] = str(folder)
    os.environ[runner.IDLE_VARIABLE] = "300"
    yield folder
    runner.stop_runners(folder)
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def pytest_collection_modifyitems(config, items):
    if active_example() == DEFAULT_EXAMPLE:
        return
    skip = pytest.mark.skip(reason="about the penguins example, which is not the active project")
    for item in items:
        if "penguins" in item.keywords:
            item.add_marker(skip)


# The active project: whatever dataset.py, features.py and params.yaml say now.


@pytest.fixture(scope="session")
def schema():
    return dataset.SCHEMA


@pytest.fixture(scope="session")
def params():
    return config.load_params(REPO / "params.yaml")


@pytest.fixture(scope="session")
def synthetic(schema):
    return synthetic_frame(schema, rows=240, seed=1)


@pytest.fixture(scope="session")
def synthetic_splits(synthetic, schema, params):
    return split(clean(synthetic, schema), schema, params.data.test_size, params.seed)


@pytest.fixture(scope="session")
def synthetic_model(synthetic_splits, params, schema):
    return fit(synthetic_splits[0], params, schema)


# The penguins example: real data and a real model, for tests of the server and of penguins' own facts.


@pytest.fixture(scope="session")
def penguins_schema():
    return penguins_example().SCHEMA


@pytest.fixture(scope="session")
def penguins(penguins_schema):
    return penguins_example().load_raw()


@pytest.fixture(scope="session")
def splits(penguins, penguins_schema):
    return split(clean(penguins, penguins_schema), penguins_schema, test_size=0.2, seed=42)


@pytest.fixture(scope="session")
def fitted(splits, penguins_schema):
    return fit_reference(splits[0], config.Params(), penguins_schema)


@pytest.fixture(scope="session")
def bundle_dir(tmp_path_factory, fitted, splits, penguins_schema):
    return write_bundle(tmp_path_factory.mktemp("bundle"), fitted, splits[1], penguins_schema)


# Scratch copies of the project.


@pytest.fixture(scope="session")
def reproduced(tmp_path_factory) -> Project:
    """One copy on which `dvc repro` has run once; tests that change it must work on their own copy."""
    project = copy_project(tmp_path_factory.mktemp("reproduced"))
    project.run("dvc", "repro")
    return project


@pytest.fixture
def scratch(reproduced, tmp_path) -> Project:
    """A private copy of the reproduced project (outputs, DVC cache and MLflow store included)."""
    target = tmp_path / "project"
    shutil.copytree(reproduced.root, target, symlinks=True)
    return Project(target)


# Serving: other tasks and class types


@pytest.fixture(scope="session")
def regression_model(tmp_path_factory) -> ServedModel:
    return served_model(regression_schema(), regression_params(), tmp_path_factory.mktemp("regression-bundle"))


@pytest.fixture(scope="session")
def integer_class_model(tmp_path_factory) -> ServedModel:
    return served_model(integer_class_schema(), config.Params(), tmp_path_factory.mktemp("integer-class-bundle"))


# The warm runner, on a copy of the package with a probe stage that reports how it was run.

PROBE_STAGE = """
import os, sys, time

import mlserve.manifest  # the runner's preload imports it too

print("warm" if "sklearn" in sys.modules else "new", os.getcwd(), sys.argv[1:], os.environ.get("PROBE_SAYS"))
print("runner", os.getppid(), "stage", os.getpid(), flush=True)
print("to stderr", file=sys.stderr)
options = dict(arg.split("=", 1) for arg in sys.argv[1:] if arg.startswith("--"))
if "--modules" in options:  # where the project's other package comes from
    print("mlserve", mlserve.manifest.__file__)
if "--joblib" in options:  # worker processes, which must be told to stop when the stage ends
    from joblib import Parallel, delayed
    print(sum(Parallel(n_jobs=2, backend="loky")(delayed(abs)(-n) for n in range(4))))
if "--ready" in options:  # say the stage's process ID, then wait to be signalled
    with open(options["--ready"], "w") as ready:
        ready.write(str(os.getpid()))
    time.sleep(60)
print("stdin", sys.stdin.read().strip())
sys.exit(int(options.get("--exit", "0")))
"""


@pytest.fixture(scope="module")
def probe_copy(tmp_path_factory):
    """A folder holding a copy of src/mlproject with a stage `probe`, and the folder of its warm runners."""
    root = tmp_path_factory.mktemp("probe")
    for package in ("mlproject", "mlserve"):
        shutil.copytree(REPO / "src" / package, root / "src" / package)
    (root / "src" / "mlproject" / "probe.py").write_text(PROBE_STAGE)
    warm = root / "warm"
    warm.mkdir(mode=0o700)
    yield root
    runner.stop_runners(warm)
