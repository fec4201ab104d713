"""A declared schema for tabular data, and the check that raw data holds it.

Pure functions on DataFrames: no files, no DVC, no MLflow. The check collects every problem it finds
so one run tells the user everything that is wrong, each naming its column and rows.

The data arrives as text (the CSVs are read without guessing types, `inputs.read_table`) or as whatever
`load_raw()` returned. A category is text: the value is compared and kept as its text, exactly ("NA",
"02139", "True", " x "), and only an empty value is missing. A number is missing when empty or one of the
usual spellings of "not available" (NUMBER_GAPS). Booleans are categories, declared as ("False", "True"),
the text a CSV holds for them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

import pandas as pd

from mlproject.stage import StageError

MAX_ROWS_NAMED = 5
NUMBER_GAPS = ("", "NA", "N/A", "n/a", "NaN", "nan", "-nan", "NULL", "null", "None", "<NA>", "#N/A")
MISSING_CATEGORY = ""


@dataclass(frozen=True)
class NumericColumn:
    name: str
    minimum: float
    maximum: float
    nullable: bool = True

    kind = "number"


@dataclass(frozen=True)
class CategoricalColumn:
    """Categories are strings; a classification target's classes may also be integers."""

    name: str
    categories: tuple[str | int, ...]
    nullable: bool = True

    kind = "category"


Column = NumericColumn | CategoricalColumn


@dataclass(frozen=True)
class DatasetSchema:
    """The feature columns, and the target: its classes (classification) or its range (regression)."""

    features: tuple[Column, ...]
    target: Column
    min_rows: int
    ignored_columns: tuple[str, ...] = field(default=())

    @property
    def label(self) -> str:
        return self.target.name

    @property
    def task(self) -> Literal["classification", "regression"]:
        return "classification" if isinstance(self.target, CategoricalColumn) else "regression"

    @property
    def classes(self) -> tuple[str | int, ...]:
        return self.target.categories if isinstance(self.target, CategoricalColumn) else ()

    def require_task(self, task: str) -> None:
        """params.yaml's `task` and the schema's target must say the same thing."""
        if task != self.task:
            kind = "a category column" if self.task == "classification" else "a number column"
            raise SchemaError(
                f"params.yaml says task: {task}, but the target '{self.label}' in dataset.py is {kind} "
                f"({self.task}); change one of them"
            )

    @property
    def numeric(self) -> list[str]:
        return [c.name for c in self.features if isinstance(c, NumericColumn)]

    @property
    def categorical(self) -> list[str]:
        return [c.name for c in self.features if isinstance(c, CategoricalColumn)]

    @property
    def feature_names(self) -> list[str]:
        return [c.name for c in self.features]


class SchemaError(StageError, ValueError):
    """The data does not hold its schema; the message lists every problem."""


def _rows(mask: pd.Series) -> str:
    """Name the offending rows as 1-based data rows (the CSV's header is not counted)."""
    positions = [i + 1 for i, bad in enumerate(mask.to_numpy()) if bad]
    named = ", ".join(str(p) for p in positions[:MAX_ROWS_NAMED])
    more = f" and {len(positions) - MAX_ROWS_NAMED} more" if len(positions) > MAX_ROWS_NAMED else ""
    return f"row{'s' if len(positions) > 1 else ''} {named}{more}"


def _examples(values: pd.Series) -> str:
    return ", ".join(repr(v) for v in list(dict.fromkeys(values.tolist()))[:3])


def missing(values: pd.Series, column: Column) -> pd.Series:
    """Which values are missing: an empty value, or for a number one of NUMBER_GAPS (and NaN, None)."""
    gaps = NUMBER_GAPS if isinstance(column, NumericColumn) else (MISSING_CATEGORY,)
    return values.isna() | values.astype(object).isin(gaps)


def numbers(values: pd.Series, column: NumericColumn) -> pd.Series:
    """The values as float64 (NaN where missing or not a number)."""
    return pd.to_numeric(values.astype(object).where(~missing(values, column)), errors="coerce").astype("float64")


def texts(values: pd.Series, column: Column) -> pd.Series:
    """The values as text, exactly as given (None where missing)."""
    return values.astype(object).where(~missing(values, column)).map(str, na_action="ignore").astype(object)


def _numeric_problems(values: pd.Series, column: NumericColumn) -> list[str]:
    absent, number = missing(values, column), numbers(values, column)
    problems = []
    not_numbers = number.isna() & ~absent
    if not_numbers.any():
        problems.append(
            f"column '{column.name}': expected numbers, found {_examples(values[not_numbers])} at {_rows(not_numbers)}"
        )
    infinite = number.isin([float("inf"), float("-inf")])
    outside = ~infinite & number.notna() & ((number < column.minimum) | (number > column.maximum))
    for mask, what in ((infinite, "infinite values"), (outside, "values outside")):
        if mask.any():
            problems.append(
                f"column '{column.name}': {what} [{column.minimum}, {column.maximum}]: "
                f"{_examples(number[mask])} at {_rows(mask)}"
            )
    if not column.nullable and absent.any():
        problems.append(f"column '{column.name}': missing values at {_rows(absent)}")
    return problems


def _category_problems(values: pd.Series, column: CategoricalColumn) -> list[str]:
    absent, text = missing(values, column), texts(values, column)
    unknown = ~absent & ~text.isin([str(category) for category in column.categories])
    problems = []
    if unknown.any():
        problems.append(
            f"column '{column.name}': unknown values {_examples(text[unknown])} at {_rows(unknown)}; "
            f"allowed: {', '.join(map(str, column.categories))}"
        )
    if not column.nullable and absent.any():
        problems.append(f"column '{column.name}': missing values at {_rows(absent)}")
    return problems


def find_problems(frame: pd.DataFrame, schema: DatasetSchema) -> list[str]:
    """Every way `frame` breaks `schema`, each naming the column and rows; empty when it holds."""
    declared = [*schema.feature_names, schema.label]
    absent = [name for name in declared if name not in frame.columns]
    extra = [name for name in frame.columns if name not in declared and name not in schema.ignored_columns]
    problems = []
    if absent:
        problems.append(f"missing columns: {', '.join(absent)}")
    if extra:
        problems.append(f"undeclared columns: {', '.join(map(str, extra))} (declare them or list them as ignored)")
    if len(frame) < schema.min_rows:
        problems.append(f"{len(frame)} rows, fewer than the {schema.min_rows} required")
    for column in (*schema.features, replace(schema.target, nullable=False)):
        if column.name in absent:
            continue
        values = frame[column.name]
        if isinstance(column, NumericColumn):
            problems += _numeric_problems(values, column)
        else:
            problems += _category_problems(values, column)
    gaps = f"column '{schema.label}': missing values"
    return [
        f"{problem}: a model learns from rows whose target is known; drop them in load_raw(), "
        "or set data.missing_target: drop in params.yaml"
        if problem.startswith(gaps)
        else problem
        for problem in problems
    ]


def check(frame: pd.DataFrame, schema: DatasetSchema, source: str) -> None:
    problems = find_problems(frame, schema)
    if problems:
        raise SchemaError(f"{source} does not match its schema:\n" + "\n".join(f"  - {p}" for p in problems))


def without_target_gaps(frame: pd.DataFrame, schema: DatasetSchema) -> pd.DataFrame:
    """The rows whose target is known (`data.missing_target: drop`)."""
    if schema.label not in frame.columns:
        return frame
    return frame[~missing(frame[schema.label], schema.target)].reset_index(drop=True)


def typed(frame: pd.DataFrame, schema: DatasetSchema) -> pd.DataFrame:
    """The declared columns with their declared types: numbers float64 (NaN for a gap), categories text (None
    for a gap), the target as its classes are (strings or integers) or a number."""
    columns = {}
    for column in (*schema.features, schema.target):
        values = frame[column.name]
        columns[column.name] = numbers(values, column) if isinstance(column, NumericColumn) else texts(values, column)
    kept = pd.DataFrame(columns, index=frame.index)
    if schema.task == "classification" and all(isinstance(c, int) for c in schema.classes):
        kept[schema.label] = kept[schema.label].astype("int64")  # integer classes stay integers (no gaps here)
    return kept


def clean(frame: pd.DataFrame, schema: DatasetSchema) -> pd.DataFrame:
    """Keep the declared columns with their declared types; drop rows with no feature at all, and exact repeats.

    Rows whose every feature is missing carry no information; a repeated row would leak between the
    splits. Remaining gaps stay missing: imputation is part of the model, so it is learnt on train only.
    """
    kept = typed(frame, schema)
    kept = kept[kept[schema.feature_names].notna().any(axis=1)]
    kept = kept.drop_duplicates()
    return kept.reset_index(drop=True)
