"""End to end: real `dvc repro`, `dvc exp run` and MLflow in scratch copies of the project."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import time

import mlflow
import pytest
from mlflow import MlflowClient

from mlproject import config
from tests.conftest import Project, copy_project, project_env

pytestmark = pytest.mark.slow

PARAMS_TOUCHED = ("data/processed/train.csv", "data/processed/test.csv", "models/model.skops", "dvc.lock")


def client_for(project: Project) -> MlflowClient:
    return MlflowClient(tracking_uri=f"sqlite:///{project.root / 'mlflow.db'}")


def runs_of(project: Project) -> list:
    client = client_for(project)
    experiment = client.get_experiment_by_name("penguins")
    return client.search_runs([experiment.experiment_id], order_by=["attributes.start_time ASC"])


def test_repro_writes_every_declared_output(reproduced):
    for name in [*reproduced.out_md5s(), "reports/registration.json"]:
        assert (reproduced.root / name).stat().st_size > 0, name
    metrics = json.loads((reproduced.root / "reports/metrics.json").read_text())
    assert metrics["macro_f1"] >= 0.9
    assert set(metrics) == {"accuracy", "macro_f1", "log_loss", "precision", "recall"}
    shown = reproduced.run("dvc", "metrics", "show", "--json").stdout
    assert '"macro_f1"' in shown


def test_dvc_plots_render_the_confusion_matrix_and_roc_curves(reproduced, tmp_path):
    reproduced.run("dvc", "plots", "show", "-o", str(tmp_path / "plots"))
    page = (tmp_path / "plots" / "index.html").read_text()
    assert "Confusion matrix (test split)" in page and "ROC one-vs-rest (test split)" in page
    assert '"field": "class"' in page


def test_the_mlflow_run_holds_params_metrics_lineage_and_artifacts(reproduced):
    (run,) = runs_of(reproduced)
    params = config.load_params(reproduced.root / "params.yaml")
    assert run.data.params == {k: str(v) for k, v in config.flatten(params.model_dump()).items()}
    metrics = config.flatten(json.loads((reproduced.root / "reports/metrics.json").read_text()))
    assert run.data.metrics == pytest.approx(metrics)

    tags = run.data.tags
    md5s = reproduced.out_md5s()
    for path in ("data/raw/penguins.csv", "data/processed/train.csv", "data/processed/test.csv", "models/model.skops"):
        assert tags[f"dvc_md5.{path}"] == md5s[path]
    requirements = (reproduced.root / "requirements.txt").read_bytes()
    assert tags["requirements_sha256"] == hashlib.sha256(requirements).hexdigest()
    head = reproduced.run("git", "rev-parse", "HEAD").stdout.strip()
    assert tags["git_commit"] == head

    inputs = {i.dataset.name: i for i in run.inputs.dataset_inputs}
    assert set(inputs) == {"train", "test"}
    assert [t.value for t in inputs["train"].tags if t.key == "mlflow.data.context"] == ["training"]
    assert "data/processed/train.csv" in inputs["train"].dataset.source

    client = client_for(reproduced)
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "reports")}
    assert artifacts == {"reports/metrics.json", "reports/plots"}
    plots = {a.path for a in client.list_artifacts(run.info.run_id, "reports/plots")}
    assert plots == {"reports/plots/confusion.csv", "reports/plots/roc.csv"}


def test_the_model_is_registered_with_a_signature_and_becomes_champion(reproduced):
    client = client_for(reproduced)
    (run,) = runs_of(reproduced)
    champion = client.get_model_version_by_alias("penguins-classifier", "champion")
    assert (champion.version, champion.run_id) == (1, run.info.run_id)
    registration = json.loads((reproduced.root / "reports/registration.json").read_text())
    assert registration["version"] == 1 and registration["alias_moved"] is True

    mlflow.set_tracking_uri(f"sqlite:///{reproduced.root / 'mlflow.db'}")
    info = mlflow.models.get_model_info("models:/penguins-classifier@champion")
    assert [c["name"] for c in info.signature.inputs.to_dict()] == [
        "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "island", "sex",
    ]  # fmt: skip
    model = mlflow.pyfunc.load_model("models:/penguins-classifier@champion")
    example = {"bill_length_mm": [39.1], "bill_depth_mm": [18.7], "flipper_length_mm": [181.0],
               "body_mass_g": [3750.0], "island": ["Torgersen"], "sex": ["male"]}  # fmt: skip
    import pandas as pd

    assert list(model.predict(pd.DataFrame(example))) == ["Adelie"]


def test_export_writes_the_champion_as_an_onnx_bundle(reproduced):
    manifest = json.loads((reproduced.root / "models/serving/manifest.json").read_text())
    champion = client_for(reproduced).get_model_version_by_alias("penguins-classifier", "champion")
    assert (manifest["model_version"], manifest["run_id"]) == (int(champion.version), champion.run_id)
    model = (reproduced.root / "models/serving/model.onnx").read_bytes()
    assert hashlib.sha256(model).hexdigest() == manifest["model_sha256"]
    assert manifest["parity"]["labels_equal"] and manifest["parity"]["rows"] == 69


def test_a_second_repro_with_nothing_changed_runs_nothing(scratch):
    before = scratch.snapshot(*PARAMS_TOUCHED)
    output = scratch.run("dvc", "repro").stdout
    assert "Running stage" not in output
    assert "Data and pipelines are up to date." in output
    assert scratch.snapshot(*PARAMS_TOUCHED) == before
    assert len(runs_of(scratch)) == 1


def test_force_twice_and_a_fresh_clone_elsewhere_give_identical_bytes(scratch, tmp_path):
    first = scratch.out_md5s()
    scratch.run("dvc", "repro", "--force")
    assert scratch.out_md5s() == first
    scratch.run("git", "add", "-A")
    scratch.run("git", "commit", "-q", "-m", "after repro")
    elsewhere = tmp_path / "another" / "place"
    scratch.run("git", "clone", "-q", str(scratch.root), str(elsewhere))
    clone = Project(elsewhere)
    threads = {name: "2" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    clone.run("dvc", "repro", "--force", PYTHONHASHSEED="12345", **threads)
    assert clone.out_md5s() == first


def test_bad_params_fail_before_any_work_naming_the_key_and_keep_everything(scratch):
    before = scratch.snapshot(*PARAMS_TOUCHED)
    scratch.set_param("train.random_forest.n_estimators", -5)
    result = scratch.run("dvc", "repro", check=False)
    assert result.returncode != 0
    assert "train.random_forest.n_estimators: Input should be greater than or equal to 1 (got -5)" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert scratch.snapshot(*PARAMS_TOUCHED) == before

    scratch.set_param("train.random_forest.n_estimators", 100)
    scratch.set_param("data.holdout", 0.3)
    result = scratch.run("dvc", "repro", check=False)
    assert "data.holdout: unknown key" in result.stderr
    assert scratch.snapshot(*PARAMS_TOUCHED) == before
    assert len(runs_of(scratch)) == 1


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda text: "", "data/raw/penguins.csv is empty"),
        (lambda text: text.replace("bill_depth_mm", "bill_width_mm", 1), "missing columns: bill_depth_mm"),
        (
            lambda text: text.replace("Adelie,Torgersen,39.1", "Adelie,Torgersen,long", 1),
            "expected numbers, found 'long'",
        ),
        (lambda text: text.replace("Adelie", "Emperor", 1), "unknown values 'Emperor' at row 1"),
        (lambda text: text.replace("Adelie,Torgersen,39.1", "Adelie,Torgersen,391", 1), "values outside [25.0, 70.0]"),
    ],
)
def test_bad_raw_data_fails_in_prepare_naming_the_problem_and_keeps_everything(scratch, damage, message):
    raw = scratch.root / "data/raw/penguins.csv"
    before = scratch.snapshot(*PARAMS_TOUCHED)
    raw.write_text(damage(raw.read_text()))
    result = scratch.run("dvc", "repro", "--single-item", "prepare", check=False)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert scratch.snapshot(*PARAMS_TOUCHED) == before


def test_experiments_run_queued_and_direct_and_each_lands_in_mlflow(scratch):
    scratch.run(
        "dvc", "exp", "run", "-S", "train.classifier=logistic_regression", "-S", "train.logistic_regression.C=0.001"
    )
    runs = runs_of(scratch)
    assert len(runs) == 2 and runs[-1].data.params["train.classifier"] == "logistic_regression"
    registration = json.loads((scratch.root / "reports/registration.json").read_text())
    assert registration["alias_moved"] is False, registration  # weaker than the champion: the alias stays
    assert client_for(scratch).get_model_version_by_alias("penguins-classifier", "champion").version == 1

    for trees in (5, 7):
        scratch.run("dvc", "exp", "run", "--queue", "-S", f"train.random_forest.n_estimators={trees}")
    scratch.run("dvc", "exp", "run", "--run-all")
    runs = runs_of(scratch)
    assert sorted(r.data.params["train.random_forest.n_estimators"] for r in runs[2:]) == ["5", "7"]
    listed = scratch.run("dvc", "exp", "show", "--json").stdout
    assert listed.count('"n_estimators": 5') >= 1


def test_kill_9_during_train_then_repro_gives_the_uninterrupted_bytes(scratch, tmp_path):
    scratch.set_param("train.random_forest.n_estimators", 400)  # long enough to be caught training
    log = tmp_path / "repro.log"
    with log.open("w") as out:
        repro = subprocess.Popen(
            ["dvc", "repro"], cwd=scratch.root, env=project_env(), stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while "Running stage 'train'" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        os.killpg(repro.pid, signal.SIGKILL)
    finally:
        repro.wait()
    assert "Running stage 'train'" in log.read_text() and "Running stage 'evaluate'" not in log.read_text()
    assert not list((scratch.root / "models").glob(".*.tmp")), "a half-written model was left behind"
    scratch.run("dvc", "repro")
    resumed = scratch.out_md5s()
    scratch.run("dvc", "repro", "--force", "--single-item", "train")  # the same training, uninterrupted
    assert scratch.out_md5s() == resumed


def test_a_failing_stage_leaves_the_registry_and_its_champion_alone(scratch):
    client = client_for(scratch)
    versions = len(client.search_model_versions("name='penguins-classifier'"))
    scratch.set_param("train.random_forest.min_samples_leaf", 0)
    assert scratch.run("dvc", "repro", check=False).returncode != 0
    assert len(client.search_model_versions("name='penguins-classifier'")) == versions
    assert client.get_model_version_by_alias("penguins-classifier", "champion").version == 1


def test_a_fresh_copy_reproduces_with_no_network_and_no_remote(tmp_path):
    project = copy_project(tmp_path / "offline")
    project.run(
        "dvc", "repro", "--single-item", "load_data", http_proxy="http://127.0.0.1:9", https_proxy="http://127.0.0.1:9"
    )
    raw = (project.root / "data/raw/penguins.csv").read_text().splitlines()
    assert len(raw) == 345 and raw[0].startswith("species,island,bill_length_mm")
