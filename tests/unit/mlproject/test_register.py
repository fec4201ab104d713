import shutil

from mlflow import MlflowClient

from mlproject import config, files
from mlproject.register import SCORING_KEY_TAG, metric_name, runs_table_columns, scoring_key, stored_score
from tests.helpers import REPO


def test_metric_names_are_made_safe_for_mlflow():
    assert metric_name("recall.Adélie (n=3)") == "recall.Ad_lie _n_3_"
    assert metric_name("precision.Gentoo") == "precision.Gentoo"


def test_the_runs_table_shows_the_champion_rules_metrics_then_the_knobs_experiments_turn():
    params = config.parse_params({"model": {"steps": {"c": {"estimator": "RandomForestClassifier",
                                                           "params": {"n_estimators": 50}}}}})  # fmt: skip
    columns = runs_table_columns(params)
    comparison = f"metrics.cv.{params.comparison_metric}"
    assert columns[:3] == [f"{comparison}.mean", f"{comparison}.std", f"metrics.{params.registry.gate.metric}"]
    assert {"params.seed", "params.features.scale_numbers", "params.model.steps.c.params.n_estimators"} <= set(columns)
    assert not [c for c in columns[3:] if not c.startswith(("params.seed", "params.features.", "params.model."))]


def test_the_scoring_key_changes_with_the_split_the_folds_and_the_libraries(tmp_path, monkeypatch, synthetic_splits):
    monkeypatch.chdir(tmp_path)
    files.write_csv(config.TRAIN_DATA, synthetic_splits[0])
    shutil.copyfile(REPO / config.LOCK_FILE, config.LOCK_FILE)
    params = config.Params()
    key = scoring_key(params)
    assert scoring_key(params) == key
    assert scoring_key(params.model_copy(update={"seed": 7})) != key
    assert scoring_key(params.model_copy(update={"evaluation": config.EvaluationParams(folds=3)})) != key
    files.write_csv(config.TRAIN_DATA, synthetic_splits[0].iloc[1:])
    assert scoring_key(params) != key
    files.write_csv(config.TRAIN_DATA, synthetic_splits[0])
    config.LOCK_FILE.write_text(config.LOCK_FILE.read_text() + "# another lock\n")
    assert scoring_key(params) != key


def test_the_champions_score_is_read_from_its_run_only_under_the_same_scoring_key(tmp_path):
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.create_experiment("scores", artifact_location=(tmp_path / "mlruns").as_uri())
    run = client.create_run(experiment, tags={SCORING_KEY_TAG: "k1"}).info.run_id
    client.log_metric(run, "cv.log_loss.mean", 0.0674)
    assert stored_score(client, run, "log_loss", "k1") == 0.0674
    assert stored_score(client, run, "log_loss", "k2") is None  # another split, folds, library or code: refit
    assert stored_score(client, run, "rmse", "k1") is None  # a metric the run did not cross-validate
