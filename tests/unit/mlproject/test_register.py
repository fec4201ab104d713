from mlproject import config
from mlproject.register import metric_name, runs_table_columns


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
