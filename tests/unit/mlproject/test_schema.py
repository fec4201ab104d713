import numpy as np
import pandas as pd
import pytest

from mlproject.schema import CategoricalColumn, DatasetSchema, NumericColumn, SchemaError, check, clean, find_problems
from tests.helpers import penguins_example

SCHEMA = penguins_example().SCHEMA  # the checks are shown on the penguins' real data, whichever example is active


def test_the_shipped_penguins_data_holds_its_schema(penguins):
    assert len(penguins) == 344
    assert find_problems(penguins, SCHEMA) == []


def _only_problem(frame):
    problems = find_problems(frame, SCHEMA)
    assert len(problems) == 1, problems
    return problems[0]


def test_a_missing_column_is_named(penguins):
    assert _only_problem(penguins.drop(columns=["flipper_length_mm"])) == "missing columns: flipper_length_mm"


def test_an_undeclared_column_is_named(penguins):
    assert "undeclared columns: colour" in _only_problem(penguins.assign(colour="blue"))


def test_text_in_a_numeric_column_names_column_value_and_row(penguins):
    frame = penguins.astype({"body_mass_g": object})
    frame.loc[6, "body_mass_g"] = "heavy"
    assert _only_problem(frame) == "column 'body_mass_g': expected numbers, found 'heavy' at row 7"


def test_out_of_range_values_name_the_bounds_and_rows(penguins):
    frame = penguins.copy()
    frame.loc[[0, 10], "bill_depth_mm"] = [99.0, -3.0]
    assert _only_problem(frame) == "column 'bill_depth_mm': values outside [10.0, 25.0]: 99.0, -3.0 at rows 1, 11"


def test_infinity_is_not_a_measurement(penguins):
    frame = penguins.copy()
    frame.loc[3, "bill_length_mm"] = np.inf
    assert "column 'bill_length_mm': infinite values" in _only_problem(frame)


def test_an_unknown_label_is_named_with_the_allowed_classes(penguins):
    frame = penguins.copy()
    frame.loc[5, "species"] = "Emperor"
    assert _only_problem(frame) == (
        "column 'species': unknown values 'Emperor' at row 6; allowed: Adelie, Chinstrap, Gentoo"
    )


def test_a_missing_label_is_refused(penguins):
    frame = penguins.copy()
    frame.loc[2, "species"] = None
    assert _only_problem(frame) == (
        "column 'species': missing values at row 3: a model learns from rows whose target is known; "
        "drop them in load_raw(), or set data.missing_target: drop in params.yaml"
    )


def test_an_unknown_category_and_a_null_where_none_is_allowed(penguins):
    frame = penguins.copy()
    frame.loc[0, "island"] = "Atlantis"
    frame.loc[1, "island"] = None
    problems = find_problems(frame, SCHEMA)
    assert any("column 'island': unknown values 'Atlantis' at row 1" in p for p in problems)
    assert "column 'island': missing values at row 2" in problems


def test_long_row_lists_are_cut_short(penguins):
    frame = penguins.copy()
    frame["sex"] = "unknown"
    assert _only_problem(frame).endswith("at rows 1, 2, 3, 4, 5 and 339 more; allowed: female, male")


def test_too_few_rows(penguins):
    assert _only_problem(penguins.head(10)) == "10 rows, fewer than the 100 required"


def test_an_empty_table_reports_every_problem_it_has():
    empty = pd.DataFrame(columns=["species"])
    problems = find_problems(empty, SCHEMA)
    assert problems[0].startswith("missing columns: bill_length_mm")
    assert "0 rows, fewer than the 100 required" in problems


def test_check_raises_with_the_source_and_all_problems(penguins):
    frame = penguins.drop(columns=["sex"]).head(5)
    with pytest.raises(SchemaError) as caught:
        check(frame, SCHEMA, "data/raw/x.csv")
    assert str(caught.value) == (
        "data/raw/x.csv does not match its schema:\n  - missing columns: sex\n  - 5 rows, fewer than the 100 required"
    )


def test_clean_keeps_declared_columns_typed_and_drops_empty_and_repeated_rows(penguins):
    empty_row = {name: None for name in SCHEMA.feature_names} | {"species": "Adelie", "year": 2007}
    frame = pd.concat([penguins, penguins.head(3), pd.DataFrame([empty_row])], ignore_index=True)
    cleaned = clean(frame, SCHEMA)
    assert list(cleaned.columns) == [*SCHEMA.feature_names, "species"]
    assert len(cleaned) == len(penguins)
    assert all(cleaned[name].dtype == "float64" for name in SCHEMA.numeric)
    assert cleaned["sex"].isna().sum() == penguins["sex"].isna().sum()


INTEGER_CLASSES = DatasetSchema(
    features=(NumericColumn("x", minimum=0.0, maximum=1.0),),
    target=CategoricalColumn("kind", categories=(0, 1, 2)),
    min_rows=1,
)
NUMERIC_TARGET = DatasetSchema(
    features=(NumericColumn("x", minimum=0.0, maximum=1.0),),
    target=NumericColumn("y", minimum=0.0, maximum=400.0),
    min_rows=1,
)


def test_integer_classes_are_accepted_as_integers_and_keep_their_type():
    frame = pd.DataFrame({"x": [0.1, 0.5, 0.9], "kind": [0, 2, 1]})
    assert find_problems(frame, INTEGER_CLASSES) == []
    assert clean(frame, INTEGER_CLASSES)["kind"].tolist() == [0, 2, 1]
    assert find_problems(frame.assign(kind=[0, 3, 1]), INTEGER_CLASSES) == [
        "column 'kind': unknown values '3' at row 2; allowed: 0, 1, 2"  # compared as the text a CSV holds
    ]


def test_a_numeric_target_is_checked_as_a_number_and_stays_one():
    frame = pd.DataFrame({"x": [0.1, 0.5, 0.9], "y": [151.0, 75.0, 141.0]})
    assert find_problems(frame, NUMERIC_TARGET) == []
    assert clean(frame, NUMERIC_TARGET)["y"].dtype == "float64"
    assert find_problems(frame.assign(y=[151.0, None, 500.0]), NUMERIC_TARGET) == [
        "column 'y': values outside [0.0, 400.0]: 500.0 at row 3",
        "column 'y': missing values at row 2: a model learns from rows whose target is known; drop them in "
        "load_raw(), or set data.missing_target: drop in params.yaml",
    ]


def test_the_task_follows_the_target_and_must_match_params():
    assert (INTEGER_CLASSES.task, NUMERIC_TARGET.task) == ("classification", "regression")
    with pytest.raises(SchemaError, match="params.yaml says task: classification, but the target 'y'"):
        NUMERIC_TARGET.require_task("classification")
