import math

import pytest

from mlproject import config, search


def spaces(**declared) -> dict:
    return {"classify": config.StepParams(estimator="RandomForestClassifier", search=declared).search}


def tuning(**settings) -> config.TuningParams:
    return config.TuningParams.model_validate(settings)


def test_a_grid_of_choices_is_every_combination_in_order():
    found = search.grid(spaces(max_depth={"choice": [None, 4]}, criterion={"choice": ["gini", "entropy"]}), 50, 0)
    assert [s["classify"] for s in found] == [
        {"max_depth": None, "criterion": "gini"},
        {"max_depth": None, "criterion": "entropy"},
        {"max_depth": 4, "criterion": "gini"},
        {"max_depth": 4, "criterion": "entropy"},
    ]


def test_a_grid_spaces_each_range_as_finely_as_the_trials_allow():
    found = search.grid(spaces(n_estimators={"int": [10, 100]}, max_depth={"choice": [None, 4]}), 20, 0)
    assert len(found) == 20  # 10 points of the range x 2 choices
    assert sorted({s["classify"]["n_estimators"] for s in found}) == [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]
    logged = search.grid(spaces(max_samples={"float": [0.01, 1.0], "log": True}), 3, 0)
    assert [s["classify"]["max_samples"] for s in logged] == pytest.approx([0.01, 0.1, 1.0])


def test_a_grid_larger_than_the_trials_is_sampled_from_the_seed():
    declared = spaces(max_depth={"choice": list(range(1, 11))}, criterion={"choice": ["gini", "entropy"]})
    first, again = search.grid(declared, 7, seed=3), search.grid(declared, 7, seed=3)
    assert len(first) == 7 and first == again
    assert first != search.grid(declared, 7, seed=4)


def objective(setting: dict) -> float:
    values = setting["classify"]
    return (values["n_estimators"] - 300) ** 2 / 1e4 + values["min_samples_leaf"] + (values["max_depth"] is None)


def run_search(method: str, seed: int, trials: int = 24, batch: int = 5) -> list[tuple[dict, float]]:
    declared = spaces(
        n_estimators={"int": [50, 500]}, min_samples_leaf={"int": [1, 10]}, max_depth={"choice": [None, 4, 8]}
    )
    proposer = search.Search(declared, tuning(method=method, trials=trials, batch=batch), seed, "lower")
    history = []
    while not proposer.finished:
        batch_settings = proposer.ask()
        assert len(batch_settings) <= batch
        scores = [objective(setting) for setting in batch_settings]
        proposer.tell(scores)
        history += list(zip(batch_settings, scores, strict=True))
    return history


@pytest.mark.parametrize("method", ["random", "tpe", "grid"])
def test_the_same_seed_proposes_the_same_settings_and_another_seed_others(method):
    history = run_search(method, seed=1)
    assert len(history) == (24 if method != "grid" else len(history)) and history
    assert history == run_search(method, seed=1)
    if method != "grid":
        assert history != run_search(method, seed=2)


def test_tpe_learns_from_the_scores_it_is_told():
    """After its random start, TPE proposes near the good settings: its later half scores better than random's."""
    tpe, random = run_search("tpe", seed=5, trials=40), run_search("random", seed=5, trials=40)
    later = lambda history: sorted(score for _, score in history[20:])[:5]  # noqa: E731
    assert sum(later(tpe)) < sum(later(random))


def test_a_failed_setting_is_told_and_the_search_goes_on():
    declared = spaces(n_estimators={"int": [50, 500]})
    proposer = search.Search(declared, tuning(method="tpe", trials=4, batch=2), 0, "higher")
    proposer.tell([None, math.nan] if len(proposer.ask()) == 2 else [])
    assert len(proposer.ask()) == 2 and proposer.finished
