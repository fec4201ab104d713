from pathlib import Path

import pytest
import yaml

from mlproject import config


def test_the_shipped_params_file_parses_and_sets_every_key_explicitly():
    raw = yaml.safe_load(Path(config.PARAMS_FILE).read_text())
    params = config.parse_params(raw)
    assert config.flatten(params.model_dump()).keys() == config.flatten(raw).keys()


def test_missing_sections_take_their_defaults():
    assert config.parse_params({}) == config.Params()


@pytest.mark.parametrize(
    ("raw", "key", "problem"),
    [
        ({"train": {"n_estimators": 10}}, "train.n_estimators", "unknown key"),
        ({"sede": 1}, "sede", "unknown key"),
        ({"seed": "42"}, "seed", "valid integer"),
        ({"seed": 4.5}, "seed", "valid integer"),
        ({"seed": -1}, "seed", "greater than or equal to 0"),
        ({"data": {"test_size": 0.9}}, "data.test_size", "less than 0.5"),
        ({"train": {"random_forest": {"n_estimators": 0}}}, "train.random_forest.n_estimators", "greater than"),
        ({"train": {"random_forest": {"max_depth": "deep"}}}, "train.random_forest.max_depth", "integer"),
        ({"train": {"classifier": "svm"}}, "train.classifier", "'random_forest' or 'logistic_regression'"),
        ({"registry": {"quality_gate": {"min_macro_f1": 1.5}}}, "registry.quality_gate.min_macro_f1", "1"),
        ({"registry": {"model_name": "bad name!"}}, "registry.model_name", "pattern"),
        ({"train": {"n_jobs": True}}, "train.n_jobs", "integer"),
    ],
)
def test_bad_params_name_the_key_and_the_problem(raw, key, problem):
    with pytest.raises(config.ParamsError) as caught:
        config.parse_params(raw)
    line = next(line for line in str(caught.value).splitlines() if line.strip().startswith(f"{key}:"))
    assert problem in line


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
    assert config.flatten({"a": {"b": 1, "c": {"d": None}}, "e": "x"}) == {"a.b": 1, "a.c.d": None, "e": "x"}


def test_queued_experiments_track_into_the_project_they_were_queued_from(tmp_path):
    queued = tmp_path / "project" / ".dvc" / "tmp" / "exps" / "tmpab12cd"
    queued.mkdir(parents=True)
    assert config.project_root(queued) == tmp_path / "project"
    assert config.project_root(tmp_path) == tmp_path


def test_tracking_uri_defaults_to_the_projects_sqlite_file_and_honours_the_variable(monkeypatch, tmp_path):
    monkeypatch.delenv(config.TRACKING_URI_VARIABLE, raising=False)
    monkeypatch.chdir(tmp_path)
    assert config.tracking_uri() == f"sqlite:///{tmp_path.resolve()}/mlflow.db"
    monkeypatch.setenv(config.TRACKING_URI_VARIABLE, "http://127.0.0.1:5000")
    assert config.tracking_uri() == "http://127.0.0.1:5000"
