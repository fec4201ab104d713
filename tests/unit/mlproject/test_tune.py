import shutil
import socket

import pytest
import yaml
from mlflow import MlflowClient

from mlproject import compute, config, files, tune
from tests.helpers import REPO

TRIALS, BATCH = 6, 4  # two batches: the second shorter


def small_search(task: str, **tuning) -> config.Params:
    classifies = task == "classification"
    estimator = "DecisionTreeClassifier" if classifies else "DecisionTreeRegressor"
    return config.parse_params(
        {
            "task": task,
            "registry": {"experiment_name": "tuning", "gate": {"metric": "macro_f1" if classifies else "r2", "min": 0}},
            "evaluation": {"folds": 3, "repeats": 1},
            "tuning": {"method": "tpe", "trials": TRIALS, "batch": BATCH, **tuning},
            "model": {
                "steps": {
                    "predict": {
                        "estimator": estimator,
                        "params": {"max_depth": 3},
                        "search": {"max_depth": {"int": [1, 8]}, "min_samples_leaf": {"choice": [1, 5, 20]}},
                    }
                }
            },
        }
    )


@pytest.fixture
def project(tmp_path, monkeypatch, synthetic_splits):
    """An empty project folder holding the training split, its own MLflow store, and the lock file."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(config.TRACKING_URI_VARIABLE, raising=False)
    monkeypatch.delenv(compute.SCHEDULER_VARIABLE, raising=False)
    files.write_csv(config.TRAIN_DATA, synthetic_splits[0])
    shutil.copyfile(REPO / config.LOCK_FILE, tmp_path / config.LOCK_FILE)
    return tmp_path


def searched(params: config.Params, schema) -> tuple[bytes, list]:
    """What a search leaves: the tuned file's bytes and every trial's setting and scores, in order."""
    outcome = tune.tune(params, schema)
    return yaml.safe_dump(outcome.best, sort_keys=True).encode(), outcome.trials


def tuning_runs(root) -> list:
    client = MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("tuning")
    return client.search_runs([experiment.experiment_id], order_by=["attributes.start_time ASC"], max_results=500)


def test_the_search_is_one_run_with_a_child_per_trial_and_the_best_beats_or_keeps_the_hand_set(
    project, schema, monkeypatch
):
    params = small_search(schema.task)
    monkeypatch.setenv(compute.WORKERS_VARIABLE, "1")
    outcome = tune.tune(params, schema)
    runs = tuning_runs(project)
    (parent,) = [run for run in runs if run.data.tags.get("stage") == "tune"]
    children = [run for run in runs if run.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert parent.info.status == "FINISHED" and len(children) == TRIALS + 1
    assert [run.info.run_name for run in children] == ["hand-set", *(f"trial-{n}" for n in range(1, TRIALS + 1))]
    metric = params.tuning_metric
    scores = [child.data.metrics[f"cv.{metric}.mean"] for child in children]
    assert [child.data.params["model.steps.predict.params.max_depth"] for child in children][0] == "3"
    best = parent.data.metrics[f"best.cv.{metric}.mean"]
    assert best == (max(scores) if config.METRICS[schema.task][metric] == "higher" else min(scores))
    assert best == outcome.best_scores[metric]["mean"]
    assert set(outcome.best["predict"]) == {"max_depth", "min_samples_leaf"}


def test_the_same_seed_gives_the_same_trials_scores_and_best_in_one_process_two_or_a_dask_cluster(
    project, schema, monkeypatch
):
    from distributed import LocalCluster

    params = small_search(schema.task)
    monkeypatch.setenv(compute.WORKERS_VARIABLE, "1")
    alone = searched(params, schema)
    monkeypatch.setenv(compute.WORKERS_VARIABLE, "2")
    assert searched(params, schema) == alone
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        monkeypatch.setenv(compute.SCHEDULER_VARIABLE, cluster.scheduler_address)
        assert searched(params, schema) == alone
        assert "fold_scores_or_failure" in cluster.scheduler.task_prefixes  # the cluster did the fits
    monkeypatch.delenv(compute.SCHEDULER_VARIABLE)
    other_seed = params.model_copy(update={"seed": params.seed + 1})
    assert searched(other_seed, schema)[1] != alone[1]


def test_local_processes_run_this_code_even_where_sys_path_finds_another_copy_first(
    project, schema, monkeypatch, tmp_path_factory
):
    """A model loaded with MLflow puts its partial copy of the package (the features' modules) first on
    sys.path; processes started after it must still run the search's own code."""
    from joblib.externals.loky import get_reusable_executor

    params = small_search(schema.task)
    monkeypatch.setenv(compute.WORKERS_VARIABLE, "1")
    alone = searched(params, schema)
    partial_copy = tmp_path_factory.mktemp("model-code")
    (partial_copy / "mlproject").mkdir()
    (partial_copy / "mlproject" / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(partial_copy))
    get_reusable_executor().shutdown(wait=True)  # new processes, started with this sys.path
    monkeypatch.setenv(compute.WORKERS_VARIABLE, "2")
    assert searched(params, schema) == alone


def test_a_scheduler_that_does_not_answer_is_named_and_the_search_run_ends_failed(project, schema, monkeypatch):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    monkeypatch.setenv(compute.SCHEDULER_VARIABLE, address)
    with pytest.raises(compute.ComputeError, match=f"the Dask scheduler at {address} does not answer"):
        tune.tune(small_search(schema.task), schema)
    assert [run.info.status for run in tuning_runs(project)] == ["FAILED"]
    assert not config.TUNED_FILE.exists()


def test_a_search_stopped_midway_leaves_its_run_failed_and_no_tuned_file(project, schema, monkeypatch):
    calls = []

    def interrupted(function, arguments, local_processes=True):
        calls.append(len(arguments))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return [function(*each) for each in arguments]

    monkeypatch.setattr(compute, "run_all", interrupted)
    with pytest.raises(KeyboardInterrupt):
        tune.tune(small_search(schema.task), schema)
    statuses = {run.info.run_name: run.info.status for run in tuning_runs(project)}
    assert statuses.pop("main-tune") == "FAILED"
    assert set(statuses.values()) == {"FINISHED"} and len(statuses) == BATCH + 1  # the first batch and hand-set


def test_no_search_writes_an_empty_file_and_fits_nothing(project, monkeypatch):
    files.write_text(config.PARAMS_FILE, "seed: 1\n")
    assert tune.write_tuned() == tune.NOT_SEARCHED
    assert config.TUNED_FILE.read_text() == "tuned: {}\n"
    assert not (project / "mlflow.db").exists()
