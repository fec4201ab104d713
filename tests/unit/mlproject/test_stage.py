import pytest
from sklearn.exceptions import NotFittedError

from mlproject import stage


def fails(error: Exception):
    def work() -> str:
        raise error

    return work


def test_success_prints_the_summary_line(capsys):
    assert stage.run("train", lambda: "fitted") == 0
    assert capsys.readouterr().out == "train: fitted\n"


def test_a_users_problem_gets_its_message_only(capsys):
    assert stage.run("prepare", fails(stage.StageError("column 'x': missing values at row 3"))) == 1
    assert capsys.readouterr().err == "prepare: column 'x': missing values at row 3\n"


@pytest.mark.parametrize(
    ("error", "line"),
    [
        (ValueError("Input X contains NaN.\nmore detail"), "train: ValueError: Input X contains NaN."),
        (NotFittedError("This BillRatio instance is not fitted yet."), "train: sklearn NotFittedError: This BillRatio"),
    ],
)
def test_a_library_error_is_one_line_naming_it_and_the_traceback_is_on_request(capsys, monkeypatch, error, line):
    monkeypatch.delenv(stage.TRACEBACK_VARIABLE, raising=False)
    assert stage.run("train", fails(error)) == 1
    err = capsys.readouterr().err
    assert err.startswith(line) and err.count("\n") == 1 and "MLPROJECT_TRACEBACK=1" in err
    monkeypatch.setenv(stage.TRACEBACK_VARIABLE, "1")
    stage.run("train", fails(error))
    assert "Traceback (most recent call last)" in capsys.readouterr().err
