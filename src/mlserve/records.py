"""Request bodies -> validated model inputs, or an InputError that names every bad row and field.

Pure functions: JSON or CSV text in, numpy arrays out. Every shape a client may send (one record, a list
of records, positional rows, and MLflow's scoring formats) is reduced to a list of rows, which are
checked column by column: a fast path when everything is well-typed, a slow path that finds the culprits.
"""

from __future__ import annotations

import csv
import io
import json
import math
from itertools import cycle, repeat
from operator import eq

import numpy as np

from mlserve.bundle import Column, Schema

MAX_DETAIL = 50
MLFLOW_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")
MISSING_CATEGORY = ""
NUMBER_TYPES = {int, float}
ROW_TYPES = {dict, list}
FLOAT32_MAX = float(np.finfo(np.float32).max)
FEW_VALUES = 64  # below this many values in a model input, its range is checked without numpy


class InputError(Exception):
    """A client's mistake: `status` is the HTTP status, `detail` lists {row, field, problem}."""

    def __init__(self, message: str, detail: list[dict] | None = None, status: int = 400):
        super().__init__(message)
        self.message, self.detail, self.status = message, detail or [], status

    def body(self) -> dict:
        body: dict = {"error": self.message}
        if self.detail:
            body["detail"] = self.detail[:MAX_DETAIL]
            if len(self.detail) > MAX_DETAIL:
                body["detail_truncated"] = len(self.detail) - MAX_DETAIL
        return body


def _reject_constant(constant: str):
    raise InputError(f"malformed JSON: {constant} is not a JSON number; send null for a missing value")


def _missing_or_reject(constant: str):
    """MLflow's own client writes a missing value as NaN: read it as null; infinities stay refused."""
    if constant == "NaN":
        return None
    _reject_constant(constant)


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)  # built once: json.loads(..., **kw) builds one per call
_MLFLOW_DECODER = json.JSONDecoder(parse_constant=_missing_or_reject)


def parse_json(body: bytes, nan_is_missing: bool = False) -> object:
    """Strict JSON: NaN and Infinity literals are refused, as the JSON standard does; with `nan_is_missing`
    (MLflow's scoring protocol, whose client sends NaN for a missing value) NaN reads as null."""
    decoder = _MLFLOW_DECODER if nan_is_missing else _DECODER
    try:
        return decoder.decode(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise InputError("malformed JSON: the body is not UTF-8 text") from None
    except json.JSONDecodeError as error:
        raise InputError(f"malformed JSON: {error}") from None
    except RecursionError:
        raise InputError("malformed JSON: nested too deeply") from None


def rows_of(payload: object) -> list:
    """The /predict forms: a record, a list of records, one positional row, or a list of positional rows."""
    if isinstance(payload, dict):
        return [payload]
    if not isinstance(payload, list):
        raise InputError("the body must be a record (object), a list of records, or positional rows (arrays)")
    if not payload:
        raise InputError("no rows: the body is an empty list")
    kinds = set(map(type, payload))
    if kinds <= ROW_TYPES:
        return payload
    if kinds.isdisjoint(ROW_TYPES):
        return [payload]
    raise InputError("a list must hold records (objects) or rows (arrays), or be one row of values, not a mix")


def rows_from_mlflow(payload: object) -> list:
    """MLflow's scoring JSON: exactly one of dataframe_split, dataframe_records, instances, inputs."""
    if not isinstance(payload, dict):
        raise InputError(f"the body must be a JSON object with one of: {', '.join(MLFLOW_KEYS)}")
    present = [key for key in MLFLOW_KEYS if key in payload]
    if len(present) != 1:
        found = f"found {', '.join(present)}" if present else "found none"
        raise InputError(f"the body must hold exactly one of {', '.join(MLFLOW_KEYS)}; {found}")
    unknown = sorted(set(payload) - set(present))
    if unknown:
        raise InputError(f"unknown keys beside {present[0]}: {', '.join(map(str, unknown))}")
    data = payload[present[0]]
    if present[0] == "dataframe_split":
        return _rows_from_split(data)
    if present[0] == "dataframe_records" and not isinstance(data, list):
        raise InputError("dataframe_records must be a list of records")
    if isinstance(data, dict) and data and all(isinstance(v, list) for v in data.values()):
        return _rows_from_columns(data)
    return rows_of(data)


def _rows_from_columns(data: dict) -> list:
    lengths = {len(values) for values in data.values()}
    if len(lengths) != 1:
        raise InputError("every column of a columnar input must hold the same number of values")
    return [dict(zip(data, values, strict=True)) for values in zip(*data.values(), strict=True)]


def _rows_from_split(data: object) -> list:
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("columns"), list)
        or not isinstance(data.get("data"), list)
    ):
        raise InputError(
            "dataframe_split must be an object with 'columns' (a list of names) and 'data' (a list of rows)"
        )
    unknown = sorted(set(data) - {"columns", "data", "index"})
    if unknown:
        raise InputError(f"dataframe_split: unknown keys {', '.join(map(str, unknown))}")
    names = data["columns"]
    if not all(isinstance(name, str) for name in names) or len(set(names)) != len(names):
        raise InputError("dataframe_split.columns must be distinct column names")
    rows = []
    for index, row in enumerate(data["data"]):
        if not isinstance(row, list) or len(row) != len(names):
            raise InputError(
                f"dataframe_split.data row {index} must be a list of {len(names)} values",
                [{"row": index, "field": None, "problem": f"expected {len(names)} values"}],
            )
        rows.append(dict(zip(names, row, strict=True)))
    if not rows:
        raise InputError("no rows: dataframe_split.data is empty")
    return rows


def rows_from_csv(text: str, columns: tuple[Column, ...]) -> list:
    """CSV with a header row; empty cells are missing values; numbers are parsed, text stays text."""
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        raise InputError("no rows: the CSV body is empty") from None
    except csv.Error as error:
        raise InputError(f"malformed CSV: {error}") from None
    kinds = {column.name: column.kind for column in columns}
    rows = []
    try:
        for index, record in enumerate(reader):
            if len(record) != len(header):
                raise InputError(
                    f"malformed CSV: row {index} has {len(record)} cells, the header {len(header)}",
                    [{"row": index, "field": None, "problem": f"expected {len(header)} cells"}],
                )
            rows.append({name: _csv_cell(cell, kinds.get(name)) for name, cell in zip(header, record, strict=True)})
    except csv.Error as error:
        raise InputError(f"malformed CSV: {error}") from None
    if not rows:
        raise InputError("no rows: the CSV has a header only")
    return rows


def _csv_cell(cell: str, kind: str | None) -> object:
    if cell == "":
        return None
    if kind == "number":
        try:
            number = float(cell)
        except ValueError:
            return cell
        return number if math.isfinite(number) else cell  # "nan" and "inf" are not measurements
    return cell


def to_feeds(rows: list, schema: Schema, max_rows: int) -> dict[str, np.ndarray]:
    """Validate every row against the schema and return the model's inputs (an [N, k] array per feed).

    Each feed is checked and built from one flat list of its values with a fixed number of C-level
    steps, however many rows; only when a value is wrong are the rows gone through one by one to name
    every problem.
    """
    if len(rows) > max_rows:
        raise InputError(f"{len(rows)} rows is more than the limit of {max_rows} per request", status=413)
    if not rows:
        raise InputError("no rows to predict")
    ordered = _in_column_order(rows, schema)
    feeds = {}
    for feed in schema.feeds:
        build = _number_array if feed.numeric else _category_array
        array = build(feed.values(ordered), feed.accepted)
        if array is None:
            problems = _value_problems(ordered, schema)
            raise InputError(_summary(problems), problems)
        feeds[feed.name] = array.reshape(len(ordered), len(feed.positions))
    return feeds


def _number_array(values: list, accepted: tuple[frozenset, ...]) -> np.ndarray | None:
    """float32 values, null as NaN; None if a value is not a number its column accepts or does not fit."""
    if not set(map(type, values)) <= NUMBER_TYPES and not all(  # a null, or worse: check column by column
        map(frozenset.__contains__, cycle(accepted), map(type, values))
    ):
        return None
    if len(values) < FEW_VALUES:  # Python's min() and max() cost less than numpy's calls on a few values
        present = values if None not in values else [value for value in values if value is not None]
        if present and (max(present) > FLOAT32_MAX or min(present) < -FLOAT32_MAX):
            return None
        return np.array(values, dtype=np.float32)
    try:
        numbers = np.array(values, dtype=np.float64)
    except OverflowError:  # an integer too large for any float
        return None
    if np.fmax.reduce(np.abs(numbers), initial=0.0) > FLOAT32_MAX:  # fmax passes over the NaNs of nulls
        return None
    return numbers.astype(np.float32)


def _category_array(values: list, accepted: tuple[frozenset, ...]) -> np.ndarray | None:
    """The categories, null as the missing category; None if a value is not one its column accepts."""
    try:
        if not all(map(frozenset.__contains__, cycle(accepted), values)):
            return None
    except TypeError:  # an unhashable value (an array or an object)
        return None
    if None in values:
        values = [MISSING_CATEGORY if value is None else value for value in values]
    return np.array(values, dtype=object)


def _summary(problems: list[dict]) -> str:
    first = problems[0]
    where = f"row {first['row']}" + (f", field '{first['field']}'" if first["field"] else "")
    more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
    return f"invalid input at {where}: {first['problem']}{more}"


def _in_column_order(rows: list, schema: Schema) -> list:
    """Every row as a sequence of the schema's columns; records need exactly its fields, rows its width.

    The common cases (all positional rows, or all complete records) are checked with C-level map()s;
    anything else goes row by row, and an InputError names each row that does not fit.
    """
    names, expected, pick = schema.names, schema.fields, schema.values_of
    width = len(names)
    shapes = set(map(type, rows))
    if shapes == {list} and set(map(len, rows)) == {width}:
        return rows
    if shapes == {dict} and all(map(eq, map(dict.keys, rows), repeat(expected))):
        return list(map(pick, rows))
    problems: list[dict] = []
    for index, row in enumerate(rows):
        if type(row) is dict:
            problems += [{"row": index, "field": n, "problem": "missing field"} for n in names if n not in row]
            problems += [{"row": index, "field": str(n), "problem": "unknown field"} for n in row if n not in expected]
        elif type(row) is list:
            if len(row) != width:
                problem = f"a positional row needs {width} values ({', '.join(names)}), got {len(row)}"
                problems.append({"row": index, "field": None, "problem": problem})
        else:
            problems.append({"row": index, "field": None, "problem": "a row must be a record (object) or an array"})
    if problems:
        raise InputError(_summary(problems), problems)
    return [pick(row) if type(row) is dict else row for row in rows]  # a valid mix of records and rows


def _value_problems(ordered: list, schema: Schema) -> list[dict]:
    """Every wrong value, row by row, field by field."""
    finders = [(column, _number_problem if column.kind == "number" else _category_problem) for column in schema.columns]
    return [
        {"row": index, "field": column.name, "problem": problem}
        for index, row in enumerate(ordered)
        for (column, find), value in zip(finders, row, strict=True)
        if (problem := find(value, column))
    ]


def _number_problem(value: object, column: Column) -> str | None:
    if value is None:
        return None if column.nullable else "null is not allowed: a number is required"
    if type(value) not in NUMBER_TYPES:
        return f"expected a number, got {_json_type(value)}"
    try:
        fits = abs(float(value)) <= FLOAT32_MAX
    except OverflowError:
        fits = False
    return None if fits else f"must be a finite number within ±{FLOAT32_MAX:.1e}"


def _category_problem(value: object, column: Column) -> str | None:
    if value is None:
        return None if column.nullable else "null is not allowed: a category is required"
    if not isinstance(value, str):
        return f"expected a string, got {_json_type(value)}"
    if value not in column.categories:
        return f"unknown category {value!r}; allowed: {', '.join(sorted(column.categories))}"
    return None


def _json_type(value: object) -> str:
    names = {
        bool: "a boolean",
        str: "a string",
        list: "an array",
        dict: "an object",
        int: "a number",
        float: "a number",
    }
    return names.get(type(value), type(value).__name__)
