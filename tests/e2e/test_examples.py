"""Every example, the whole path, in a scratch copy: switch to it, `dvc repro`, determinism, the MLflow run
and the gate, the registered model loaded where the package is not installed, ONNX parity, and a real
request to gunicorn that answers what scikit-learn predicts on the same rows."""

from __future__ import annotations

import hashlib
import json
import re
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from benchmarks.harness import gunicorn
from tests.helpers import DEFAULT_EXAMPLE, Project, active_example, copy_project, example_names

pytestmark = pytest.mark.slow

OUTPUTS = ("load_data", "prepare", "train", "evaluate")
WITHOUT_THE_PACKAGE = """
import importlib.util, json, os, sys
sys.path[:] = [p for p in sys.path if not os.path.isdir(os.path.join(p or ".", "mlproject"))]
assert importlib.util.find_spec("mlproject") is None, "the package is still importable"
import mlflow, pandas as pd
mlflow.set_tracking_uri("sqlite:///mlflow.db")
model = mlflow.pyfunc.load_model(sys.argv[1])
rows = pd.read_csv(sys.argv[2], keep_default_na=False)
for column in model.metadata.get_input_schema().inputs:  # the model's inputs: numbers, and strings with "" for missing
    values = rows[column.name]
    rows[column.name] = pd.to_numeric(values) if column.type.name == "double" else values.astype(str)
print(json.dumps(pd.Series(model.predict(rows)).tolist()))
"""


SKLEARN_PREDICTS = """
import json, sys
import pandas as pd
from mlproject import config
from mlproject.dataset import SCHEMA
from mlproject.inputs import model_input
from mlproject.model_io import load_model
features = model_input(pd.read_csv(config.TEST_DATA), SCHEMA)
features.to_csv(sys.argv[1], index=False)
print(json.dumps(pd.Series(load_model(config.MODEL_FILE).predict(features)).tolist()))
"""


def post(url: str, body: object) -> dict:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module", params=example_names())
def example(request, tmp_path_factory) -> tuple[str, Project]:
    project = copy_project(tmp_path_factory.mktemp(f"example-{request.param}"))
    project.use_example(request.param)
    project.run("dvc", "repro")
    return request.param, project


def sklearn_predictions(project: Project, tmp_path: Path) -> tuple[pd.DataFrame, np.ndarray]:
    """The test split's feature columns as the model takes them, and what scikit-learn predicts for them,
    computed with the example's own code (its feature classes included)."""
    rows = tmp_path / "rows.csv"
    printed = project.run("python", "-c", SKLEARN_PREDICTS, str(rows), PYTHONPATH="src").stdout
    return pd.read_csv(rows), np.array(json.loads(printed.strip().splitlines()[-1]))


def test_the_example_is_active_and_reproduces_byte_for_byte(example):
    name, project = example
    assert active_example(project.root) == name
    first = project.out_md5s(OUTPUTS)
    project.run("dvc", "repro", "--force")
    assert project.out_md5s(OUTPUTS) == first
    assert re.findall(r"Running stage '(\w+)'", project.run("dvc", "repro").stdout) == ["champion"]


def test_the_run_is_tracked_gated_registered_and_exported_with_parity(example):
    _, project = example
    params = project.params()
    client = MlflowClient(tracking_uri=f"sqlite:///{project.root / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(params.registry.experiment_name)
    runs = {run.info.run_id: run for run in client.search_runs([experiment.experiment_id])}
    registration = json.loads((project.root / "reports/registration.json").read_text())
    registered = client.get_model_version(params.registry.model_name, str(registration["version"]))
    run = runs[registered.run_id]
    metrics = json.loads((project.root / "reports/metrics.json").read_text())
    gate = params.registry.gate
    assert run.data.metrics[gate.metric] == metrics[gate.metric]
    assert run.data.tags["task"] == params.task
    champion = client.get_model_version_by_alias(params.registry.model_name, params.registry.champion_alias)
    manifest = json.loads((project.root / "models/serving/manifest.json").read_text())
    assert champion.run_id in runs
    assert (manifest["model_version"], manifest["task"]) == (int(champion.version), params.task)
    test_rows = len(pd.read_csv(project.root / "data/processed/test.csv"))
    assert manifest["parity"]["rows"] == test_rows


def test_the_registered_model_loads_where_the_package_is_not_installed(example, tmp_path):
    _, project = example
    params = project.params()
    _, expected = sklearn_predictions(project, tmp_path)
    data = tmp_path / "rows.csv"
    uri = f"models:/{params.registry.model_name}@{params.registry.champion_alias}"
    printed = project.run("python", "-c", WITHOUT_THE_PACKAGE, uri, str(data)).stdout
    loaded = np.array(json.loads(printed.strip().splitlines()[-1]))
    if params.task == "classification":
        assert loaded.tolist() == expected.tolist()
    else:
        np.testing.assert_allclose(loaded, expected, rtol=1e-9)


def test_gunicorn_answers_what_scikit_learn_predicts(example, tmp_path):
    _, project = example
    params = project.params()
    rows, expected = sklearn_predictions(project, tmp_path)
    records = json.loads(rows.to_json(orient="records"))  # a missing number or category is null
    with gunicorn(project.root / "models/serving") as server:
        url = server.url
        answer = post(f"{url}/predict", records)
        single = post(f"{url}/predict", records[0])
    if params.task == "classification":
        assert answer["predictions"] == expected.tolist()
        assert single["predictions"] == expected[:1].tolist()
    else:
        tolerance = params.export.tolerance
        np.testing.assert_allclose(answer["predictions"], expected, rtol=tolerance.relative, atol=tolerance.absolute)
        assert "probabilities" not in answer


@pytest.mark.parametrize("example", [name for name in example_names() if name != DEFAULT_EXAMPLE], indirect=True)
def test_the_unit_tests_pass_on_the_example(example):
    """`make test-fast` after a switch: what is generic runs on the example, penguins' own tests are skipped.
    (The default example's unit tests are the suite's own.)"""
    name, project = example
    result = project.run(
        "python", "-m", "pytest", "-m", "not slow", "-q", "-p", "no:cacheprovider", "tests/unit",
        PYTHONPATH="src", check=False, timeout=900,
    )  # fmt: skip
    summary = result.stdout.strip().splitlines()[-1]
    assert result.returncode == 0, result.stdout[-4000:]
    assert " passed" in summary and "failed" not in summary
    assert "skipped" in summary  # the tests about the penguins example


GRADIENT_BOOSTING = ("lightgbm.LGBMClassifier", "XGBClassifier", "lightgbm.LGBMRegressor", "xgboost.XGBRegressor")


@pytest.mark.parametrize("example", ["gradient-boosting"], indirect=True)
def test_lightgbm_and_xgboost_are_served_with_numbers_as_they_are_and_standardised(example, tmp_path):
    """The coverage script on the example's own estimators: each is fitted, converted with the converters
    its features.py registers, checked for parity within its tolerance and answered by the real server."""
    _, project = example
    found = tmp_path / "coverage.json"
    command = ["python", "-m", "scripts.estimator_coverage", "--estimators", ",".join(GRADIENT_BOOSTING)]
    project.run(*command, "--json", str(found), timeout=1200)
    outcomes = json.loads(found.read_text())
    assert sorted((o["estimator"], o["scaled"]) for o in outcomes) == sorted(
        (name, scaled) for name in GRADIENT_BOOSTING for scaled in (False, True)
    )
    assert [o for o in outcomes if o["outcome"] != "served"] == []
    tolerance = project.params().export.tolerance.absolute
    assert all(0 <= o["max_difference"] <= tolerance for o in outcomes if o["task"] == "classification")


PMML_PREDICTS = """
import hashlib
import json
import pandas as pd
from jpmml_evaluator import make_evaluator
from mlproject import config
from mlproject.dataset import SCHEMA
from mlproject.inputs import model_input
features = model_input(pd.read_csv(config.TEST_DATA), SCHEMA)
results = make_evaluator("models/serving/model.pmml").verify().evaluateAll(features)
print(json.dumps(results[SCHEMA.label].tolist()))
"""


def test_the_pmml_export_agrees_with_scikit_learn_or_names_the_step_it_cannot_convert(example, tmp_path):
    """export.pmml: true, then back to false. The custom example's own transformer has no PMML converter."""
    name, project = example
    bundle = ("models/serving/manifest.json", "models/serving/model.onnx")
    params, before = (project.root / "params.yaml").read_bytes(), project.snapshot(*bundle)
    pmml_file = project.root / "models/serving/model.pmml"
    project.set_param("export.pmml", True)
    try:
        done = project.run("dvc", "repro", check=False)
        if name == "penguins-custom":
            said = [line for line in done.stderr.splitlines() if line.startswith("export:")]
            assert done.returncode != 0 and len(said) == 1
            assert "sklearn2pmml cannot convert the model" in said[0] and "mlproject.features.BillRatio" in said[0]
            assert project.snapshot(*bundle) == before and not pmml_file.exists()
        else:
            assert done.returncode == 0, done.stderr
            check_pmml_bundle(project, tmp_path, before[bundle[1]])
    finally:
        (project.root / "params.yaml").write_bytes(params)
    project.run("dvc", "repro")
    assert project.snapshot(*bundle) == before and not pmml_file.exists()  # the same bundle as before, and no PMML


def check_pmml_bundle(project: Project, tmp_path: Path, onnx_model: bytes) -> None:
    """model.pmml is the manifest's, beside the same ONNX model, and scores the test split as scikit-learn does."""
    manifest = json.loads((project.root / "models/serving/manifest.json").read_text())
    document = (project.root / "models/serving/model.pmml").read_bytes()
    assert manifest["pmml"]["sha256"] == hashlib.sha256(document).hexdigest()
    assert manifest["pmml"]["parity"]["rows"] == manifest["parity"]["rows"]
    assert (project.root / "models/serving/model.onnx").read_bytes() == onnx_model
    assert {out["path"]: out["nfiles"] for out in project.lock()["stages"]["export"]["outs"]} == {"models/serving": 3}
    _, expected = sklearn_predictions(project, tmp_path)
    scored = np.array(json.loads(project.run("python", "-c", PMML_PREDICTS, PYTHONPATH="src").stdout))
    if project.params().task == "classification":
        assert scored.tolist() == expected.tolist() and manifest["pmml"]["parity"]["labels_equal"]
    else:
        tolerance = project.params().export.tolerance
        np.testing.assert_allclose(scored, expected, rtol=tolerance.relative, atol=tolerance.absolute)
