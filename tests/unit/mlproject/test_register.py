import pytest

from mlproject.register import decide_alias, metric_name


@pytest.mark.parametrize(
    ("candidate", "gate", "champion", "moves", "says"),
    [
        (0.95, 0.9, None, True, "no champion to compare with"),
        (0.95, 0.9, 0.95, True, "matches or beats 0.9500"),
        (0.97, 0.9, 0.95, True, "matches or beats 0.9500"),
        (0.94, 0.9, 0.95, False, "worse than the current champion's 0.9500"),
        (0.85, 0.9, None, False, "below the quality gate 0.9000"),
        (0.85, 0.9, 0.5, False, "below the quality gate 0.9000"),
    ],
)
def test_the_alias_moves_only_past_the_gate_and_never_backwards(candidate, gate, champion, moves, says):
    decision = decide_alias(candidate, gate, champion, "champion")
    assert decision.move is moves
    assert says in decision.reason
    assert "\n" not in decision.reason


def test_metric_names_are_made_safe_for_mlflow():
    assert metric_name("recall.Adélie (n=3)") == "recall.Ad_lie _n_3_"
    assert metric_name("precision.Gentoo") == "precision.Gentoo"
