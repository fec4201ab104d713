from mlproject.register import metric_name


def test_metric_names_are_made_safe_for_mlflow():
    assert metric_name("recall.Adélie (n=3)") == "recall.Ad_lie _n_3_"
    assert metric_name("precision.Gentoo") == "precision.Gentoo"
