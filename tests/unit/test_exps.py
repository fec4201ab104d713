import re

from mlproject.config import Params
from scripts.exps import hidden, short_names, table


def test_each_key_is_named_by_its_shortest_unique_tail():
    keys = ["model.steps.classify.params.n_estimators", "model.steps.classify.estimator", "model.steps.scale.estimator"]
    assert short_names(keys) == {
        "model.steps.classify.params.n_estimators": "n_estimators",
        "model.steps.classify.estimator": "classify.estimator",
        "model.steps.scale.estimator": "scale.estimator",
    }


def test_the_table_keeps_the_metrics_first_and_names_experiments():
    csv = (
        "Experiment,rev,typ,Created,macro_f1,model.steps.classify.params.n_estimators\n"
        ",workspace,baseline,,1.0,100\n"
        "lucky-cat,6b1b341,branch_base,2026-11-23T14:40:18,0.9,9\n"
    )
    lines = table(csv).splitlines()
    assert lines[0].split() == ["Experiment", "Created", "macro_f1", "n_estimators"]
    assert lines[2].split() == ["lucky-cat", "2026-11-23", "14:40", "0.9", "9"]


def test_a_project_with_no_experiments_yet_gets_a_table_too():
    lines = table("rev,Created\nworkspace,\nmain,2026-11-23T16:37:04\n").splitlines()
    assert lines[0].split() == ["Experiment", "Created"] and lines[2].split() == ["main", "2026-11-23", "16:37"]


def test_only_the_metrics_the_registry_decides_on_are_shown():
    pattern = re.compile(hidden(Params()))  # gate macro_f1, compared log_loss
    shown = ["macro_f1", "log_loss", "cv.log_loss.mean", "cv.log_loss.std", "model.steps.classify.estimator"]
    dropped = ["accuracy", "brier", "roc_auc", "cv.accuracy.mean", "recall.Adelie", "src/mlproject/train.py"]
    assert not any(pattern.match(name) for name in shown)
    assert all(pattern.match(name) for name in dropped)
