"""A declared schema for tabular data, and the check that raw data holds it.

Pure functions on DataFrames: no files, no DVC, no MLflow. The check collects every problem it finds
so one run tells the user everything that is wrong, each naming its column and rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

import pandas as pd

from mlproject.stage import StageError

MAX_ROWS_NAMED = 5


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


def _numeric_problems(values: pd.Series, column: NumericColumn) -> list[str]:
    missing = values.isna()
    numbers = pd.to_numeric(values, errors="coerce")
    problems = []
    not_numbers = numbers.isna() & ~missing
    if not_numbers.any():
        problems.append(
            f"column '{column.name}': expected numbers, found {_examples(values[not_numbers])} at {_rows(not_numbers)}"
        )
    infinite = numbers.isin([float("inf"), float("-inf")])
    outside = ~infinite & numbers.notna() & ((numbers < column.minimum) | (numbers > column.maximum))
    for mask, what in ((infinite, "infinite values"), (outside, "values outside")):
        if mask.any():
            problems.append(
                f"column '{column.name}': {what} [{column.minimum}, {column.maximum}]: "
                f"{_examples(numbers[mask])} at {_rows(mask)}"
            )
    if not column.nullable and missing.any():
        problems.append(f"column '{column.name}': missing values at {_rows(missing)}")
    return problems


def _category_problems(values: pd.Series, name: str, allowed: tuple[str | int, ...], nullable: bool) -> list[str]:
    missing = values.isna()
    unknown = ~missing & ~values.isin(allowed)
    problems = []
    if unknown.any():
        problems.append(
            f"column '{name}': unknown values {_examples(values[unknown])} at {_rows(unknown)}; "
            f"allowed: {', '.join(map(str, allowed))}"
        )
    if not nullable and missing.any():
        problems.append(f"column '{name}': missing values at {_rows(missing)}")
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
    for column in schema.features:
        if column.name in absent:
            continue
        values = frame[column.name]
        if isinstance(column, NumericColumn):
            problems += _numeric_problems(values, column)
        else:
            problems += _category_problems(values, column.name, column.categories, column.nullable)
    if schema.label not in absent:
        target = replace(schema.target, nullable=False)
        if isinstance(target, NumericColumn):
            problems += _numeric_problems(frame[schema.label], target)
        else:
            problems += _category_problems(frame[schema.label], target.name, target.categories, nullable=False)
    return problems


def check(frame: pd.DataFrame, schema: DatasetSchema, source: str) -> None:
    problems = find_problems(frame, schema)
    if problems:
        raise SchemaError(f"{source} does not match its schema:\n" + "\n".join(f"  - {p}" for p in problems))


def clean(frame: pd.DataFrame, schema: DatasetSchema) -> pd.DataFrame:
    """Keep the declared columns with their declared types; drop rows with no feature at all, and exact repeats.

    Rows whose every feature is missing carry no information; a repeated row would leak between the
    splits. Remaining gaps stay missing: imputation is part of the model, so it is learnt on train only.
    """
    kept = frame[[*schema.feature_names, schema.label]].copy()
    for name in schema.numeric:
        kept[name] = pd.to_numeric(kept[name]).astype("float64")
    for name in schema.categorical:
        kept[name] = kept[name].astype("object").where(kept[name].notna(), None)
    if schema.task == "regression":
        kept[schema.label] = pd.to_numeric(kept[schema.label]).astype("float64")
    elif all(isinstance(c, int) for c in schema.classes):  # integer classes stay integers (a target has no gaps)
        kept[schema.label] = kept[schema.label].astype("int64")
    else:
        kept[schema.label] = kept[schema.label].astype("object")
    kept = kept[kept[schema.feature_names].notna().any(axis=1)]
    kept = kept.drop_duplicates()
    return kept.reset_index(drop=True)
