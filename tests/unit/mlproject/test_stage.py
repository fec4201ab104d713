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


def caused() -> Exception:
    """A library error re-raised as another library's, as skl2onnx does with onnx's."""
    try:
        try:
            raise TypeError("Field onnx.AttributeProto.ints: Expected an int, got a boolean.")
        except TypeError as cause:
            raise ValueError(
                "Unable to create node 'TreeEnsembleClassifier' with attributes={\n 'base_values': ..."
            ) from cause
    except ValueError as error:
        return error


def test_a_library_errors_root_cause_is_kept_in_the_one_line_and_the_whole_chain_is_on_request(capsys, monkeypatch):
    monkeypatch.delenv(stage.TRACEBACK_VARIABLE, raising=False)
    assert stage.run("export", fails(caused())) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "Unable to create node 'TreeEnsembleClassifier'" in err
    assert "caused by TypeError: Field onnx.AttributeProto.ints: Expected an int, got a boolean." in err
    monkeypatch.setenv(stage.TRACEBACK_VARIABLE, "1")
    stage.run("export", fails(caused()))
    shown = capsys.readouterr().err
    assert "The above exception was the direct cause of the following exception" in shown
    assert shown.count("Traceback (most recent call last)") == 2


def test_a_stage_error_raised_from_a_library_error_keeps_the_chain_on_request(capsys, monkeypatch):
    monkeypatch.setenv(stage.TRACEBACK_VARIABLE, "1")
    try:
        raise stage.StageError("skl2onnx cannot convert the model") from caused()
    except stage.StageError as error:
        assert stage.run("export", fails(error)) == 1
    assert "caused by" not in capsys.readouterr().err.splitlines()[-1]  # a StageError's message says it already


def test_chain_of_follows_causes_and_stops_at_a_cycle():
    first = ValueError("outer")
    second = TypeError("inner")
    first.__cause__, second.__cause__ = second, first
    assert stage.chain_of(first) == "outer; caused by TypeError: inner"
