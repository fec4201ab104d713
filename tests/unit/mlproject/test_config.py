import json
import os
from pathlib import Path

import pytest
import yaml

from mlproject import config
from tests.helpers import REPO


def test_the_shipped_params_file_parses_and_sets_every_key_that_has_a_value():
    raw = yaml.safe_load((REPO / config.PARAMS_FILE).read_text())
    parsed = config.flatten(config.parse_params(raw).model_dump())
    assert {key for key, value in parsed.items() if value not in (None, {})} <= config.flatten(raw).keys()


def test_missing_sections_take_their_defaults_and_the_comparison_the_best_metric_the_model_gives():
    parsed = config.parse_params({})
    assert parsed.model_dump(exclude={"registry"}) == config.Params().model_dump(exclude={"registry"})
    assert parsed.registry.comparison.metric == "log_loss"  # the default forest gives probabilities
    label_only = config.parse_params({"model": {"steps": {"c": {"estimator": "LinearSVC"}}}})
    assert label_only.registry.comparison.metric == "roc_auc"  # two classes, as far as params alone can tell


def test_the_committed_json_schema_is_the_one_the_typed_params_generate():
    committed = json.loads((REPO / config.PARAMS_SCHEMA_FILE).read_text())
    assert committed == config.params_json_schema(), "run `make params-schema` and commit the result"
    first_line = (REPO / config.PARAMS_FILE).read_text().splitlines()[0]
    assert first_line == f"# yaml-language-server: $schema={config.PARAMS_SCHEMA_FILE}"


STEP = "model.steps.classify"


def with_step(estimator: str, **hyperparameters) -> dict:
    return {"model": {"steps": {"classify": {"estimator": estimator, "params": hyperparameters}}}}


def searching(**spaces) -> dict:
    return {"model": {"steps": {"classify": {"estimator": "RandomForestClassifier", "search": spaces}}}}


@pytest.mark.parametrize(
    ("raw", "key", "problem"),
    [
        ({"train": {"n_estimators": 10}}, "train", "unknown key"),
        ({"sede": 1}, "sede", "unknown key"),
        ({"seed": "42"}, "seed", "valid integer"),
        ({"seed": 4.5}, "seed", "valid integer"),
        ({"seed": -1}, "seed", "greater than or equal to 0"),
        ({"task": "ranking"}, "task", "'classification' or 'regression'"),
        ({"data": {"test_size": 0.9}}, "data.test_size", "less than 0.5"),
        ({"registry": {"model_name": "bad name!"}}, "registry.model_name", "pattern"),
        ({"model": {"n_jobs": 1}}, "model.n_jobs", "unknown key"),
        ({"model": {"steps": {}}}, "model.steps", "at least 1 item"),
        ({"registry": {"gate": {"metric": "r2"}}}, "registry.gate.metric", "not a classification metric"),
        ({"registry": {"gate": {"metric": "log_loss", "min": 0.5}}}, "registry.gate", "better when lower: give max"),
        ({"registry": {"gate": {"metric": "accuracy", "min": 0.5, "max": 0.9}}}, "registry.gate", "exactly one"),
        (with_step("RandomForestClassifier", n_estimators=-5), f"{STEP}.params.n_estimators", "range [1, inf)"),
        (with_step("RandomForestClassifier", max_depth="deep"), f"{STEP}.params.max_depth", "Got 'deep' instead"),
        (with_step("RandomForestClassifier", n_estimator=5), f"{STEP}.params.n_estimator", "did you mean n_estimators"),
        (with_step("RandomForestClassifier", random_state=1), f"{STEP}.params.random_state", "set by seed"),
        (with_step("RandomForestClassifer"), f"{STEP}.estimator", "did you mean RandomForestClassifier"),
        (with_step("sklearn.ensemble.Nothing"), f"{STEP}.estimator", "cannot import 'sklearn.ensemble.Nothing'"),
        (with_step("RandomForestRegressor"), f"{STEP}.estimator", "not a classifier, and task is classification"),
        (with_step("f_regression"), f"{STEP}.estimator", "is not a scikit-learn estimator class"),
        (searching(max_depth={"int": [6, 2]}), f"{STEP}.search.max_depth.int", "lower bound 6 must be below"),
        (searching(max_depth={"ints": [1, 2]}), f"{STEP}.search.max_depth", "a search space is {int: [low, high]}"),
        (searching(max_depth=4), f"{STEP}.search.max_depth", "a search space is"),
        (searching(max_samples={"float": [0, 1], "log": True}), f"{STEP}.search.max_samples.float", "above 0"),
        (searching(max_depth={"int": [1, 2, 3]}), f"{STEP}.search.max_depth.int", "at most 2 items"),
        (searching(max_depth={"choice": [[4]]}), f"{STEP}.search.max_depth.choice", "not [4]"),
        (searching(max_depth={"int": [0, 8]}), f"{STEP}.search.max_depth", "0 is refused: The 'max_depth' parameter"),
        (searching(max_dept={"int": [1, 8]}), f"{STEP}.search.max_dept", "did you mean max_depth"),
        (searching(random_state={"int": [1, 8]}), f"{STEP}.search.random_state", "set by seed"),
        ({"tuning": {"method": "bayes"}}, "tuning.method", "'grid', 'random' or 'tpe'"),
        ({"tuning": {"metric": "r2"}}, "tuning.metric", "not a classification metric"),
        ({"tuning": {"batch": 0}}, "tuning.batch", "greater than or equal to 1"),
    ],
)
def test_bad_params_name_the_key_and_the_problem(raw, key, problem):
    with pytest.raises(config.ParamsError) as caught:
        config.parse_params(raw)
    line = next(line for line in str(caught.value).splitlines() if line.strip().startswith(f"{key}:"))
    assert problem in line


def test_a_step_before_the_last_must_transform():
    raw = {"model": {"steps": {"first": {"estimator": "LogisticRegression"}, "second": {"estimator": "SVC"}}}}
    with pytest.raises(
        config.ParamsError, match="model.steps.first.estimator: LogisticRegression is not a transformer"
    ):
        config.parse_params(raw)


def test_every_problem_is_reported_at_once():
    with pytest.raises(config.ParamsError) as caught:
        config.parse_params({"seed": "x", "oops": 1, "data": {"test_size": 2}})
    message = str(caught.value)
    assert all(f"  {key}:" in message for key in ("seed", "oops", "data.test_size"))


@pytest.mark.parametrize("raw", [[1, 2], "seed: 1", 3])
def test_a_document_that_is_not_a_mapping_is_refused(raw):
    with pytest.raises(config.ParamsError, match="must be a mapping"):
        config.parse_params(raw)


def test_invalid_yaml_is_reported_with_the_file_name(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("seed: [1,\n")
    with pytest.raises(config.ParamsError, match=r"params.yaml is not valid YAML"):
        config.load_params(path)


def test_flatten_uses_dotted_names():
    assert config.flatten({"a": {"b": 1, "c": {"d": None}}, "e": "x", "f": {}}) == {
        "a.b": 1,
        "a.c.d": None,
        "e": "x",
        "f": {},
    }


def test_queued_experiments_track_into_the_project_they_were_queued_from(tmp_path):
    queued = tmp_path / "project" / ".dvc" / "tmp" / "exps" / "tmpab12cd"
    queued.mkdir(parents=True)
    assert config.project_root(queued) == tmp_path / "project"
    assert config.project_root(tmp_path) == tmp_path


def test_tracking_uri_defaults_to_the_projects_sqlite_file_and_honours_the_variable(monkeypatch, tmp_path: Path):
    monkeypatch.delenv(config.TRACKING_URI_VARIABLE, raising=False)
    monkeypatch.chdir(tmp_path)
    assert config.tracking_uri() == f"sqlite:///{tmp_path.resolve()}/mlflow.db"
    monkeypatch.setenv(config.TRACKING_URI_VARIABLE, "http://127.0.0.1:5000")
    assert config.tracking_uri() == "http://127.0.0.1:5000"


def test_team_env_points_the_project_at_the_team_server_and_the_environment_wins(monkeypatch, tmp_path: Path):
    for name in (config.TRACKING_URI_VARIABLE, "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        monkeypatch.setenv(name, "")  # recorded, so that what team.env sets is undone after the test
        monkeypatch.delenv(name)
    queued = tmp_path / ".dvc" / "tmp" / "exps" / "tmp1"  # a queued experiment reads the project's file
    queued.mkdir(parents=True)
    monkeypatch.chdir(queued)
    (tmp_path / config.TEAM_ENV).write_text(
        "# made by make team-env\nMLFLOW_TRACKING_URI=http://127.0.0.1:5050\nMLFLOW_TRACKING_USERNAME=admin\n"
        "MLFLOW_TRACKING_PASSWORD=s3cret=with=equals\n\n"
    )
    assert config.tracking_uri() == "http://127.0.0.1:5050"
    assert os.environ["MLFLOW_TRACKING_USERNAME"] == "admin"
    assert os.environ["MLFLOW_TRACKING_PASSWORD"] == "s3cret=with=equals"
    monkeypatch.setenv(config.TRACKING_URI_VARIABLE, "http://127.0.0.1:5000")
    assert config.tracking_uri() == "http://127.0.0.1:5000"


def test_a_stage_that_only_reads_the_registry_settings_can_skip_building_the_estimators():
    raw = {"model": {"steps": {"classify": {"estimator": "RandomForestClassifier", "params": {"n_estimators": -5}}}}}
    with pytest.raises(config.ParamsError, match="n_estimators"):
        config.parse_params(raw)
    assert config.parse_params(raw, build_estimators=False).registry == config.RegistryParams()


def test_the_tuned_values_replace_the_hand_set_ones_only_for_the_stages_that_ask(tmp_path):
    document = searching(n_estimators={"int": [10, 50]}, max_depth={"choice": [None, 3]})
    document["model"]["steps"]["classify"]["params"] = {"n_estimators": 20, "min_samples_leaf": 2}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(document))
    tuned = tmp_path / "tuned.yaml"
    tuned.write_text(config.tuned_yaml({"classify": {"n_estimators": 37, "max_depth": 3}}))
    hand_set = config.load_params(tmp_path / "params.yaml").model.steps["classify"].params
    assert hand_set == {"n_estimators": 20, "min_samples_leaf": 2}
    params = config.load_params(tmp_path / "params.yaml", tuned=tuned)
    assert params.model.steps["classify"].params == {"n_estimators": 37, "min_samples_leaf": 2, "max_depth": 3}
    absent = config.load_params(tmp_path / "params.yaml", tuned=tmp_path / "absent.yaml")
    assert absent.model.steps["classify"].params == hand_set


def test_a_tuned_value_params_yaml_no_longer_searches_is_refused_by_name(tmp_path):
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(searching(n_estimators={"int": [10, 50]})))
    tuned = tmp_path / "tuned.yaml"
    tuned.write_text(config.tuned_yaml({"classify": {"max_depth": 3}}))
    with pytest.raises(config.ParamsError, match=r"sets model.steps.classify.params.max_depth, which params.yaml "):
        config.load_params(tmp_path / "params.yaml", tuned=tuned)
