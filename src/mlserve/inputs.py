"""Request bodies -> the model's inputs, or an InputError that names every bad row and field.

msgspec types of a record (an object) and a positional row (an array), built from the manifest, decode and
validate a well-formed body in one pass in C. Only a body they refuse is parsed again, by the standard
library, to say exactly what is wrong and where.
"""

from __future__ import annotations

import csv
import io
import json
import math
from operator import attrgetter
from types import GenericAlias
from typing import Annotated, Any, Literal

import msgspec
import numpy as np

from mlserve.manifest import InputColumn, Manifest

FLOAT32_MAX = float(np.finfo(np.float32).max)
MLFLOW_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")
JSON_TYPES = {
    bool: "a boolean",
    str: "a string",
    list: "an array",
    dict: "an object",
    int: "a number",
    float: "a number",
}


class InputError(Exception):
    """A client's mistake: `status` is the HTTP status, `detail` lists {row, field, problem}."""

    def __init__(self, message: str, detail: list[dict] | None = None, status: int = 400):
        super().__init__(message)
        self.status, self.body = status, {"error": message, **({"detail": detail[:50]} if detail else {})}


def _refuse(constant: str) -> None:
    raise InputError(f"malformed JSON: {constant} is not a JSON number; send null for a missing value")


STRICT = json.JSONDecoder(parse_constant=_refuse)
MLFLOW = json.JSONDecoder(parse_constant=lambda c: None if c == "NaN" else _refuse(c))  # MLflow's client sends NaN


def parse_json(body: bytes, decoder: json.JSONDecoder = STRICT) -> object:
    """JSON with messages that say what is wrong (msgspec's name a byte offset)."""
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
    nested = {isinstance(item, dict | list) for item in payload}
    if len(nested) > 1:
        raise InputError("a list must hold records (objects) or rows (arrays), or be one row of values, not a mix")
    return payload if True in nested else [payload]


def _problem(value: object, column: InputColumn) -> str | None:
    got = JSON_TYPES.get(type(value), "a value")
    if value is None:
        return None if column.nullable else f"null is not allowed: a {column.type} is required"
    if column.type == "category":
        if not isinstance(value, str):
            return f"expected a string, got {got}"
        allowed = column.categories or []
        return None if value in allowed else f"unknown category {value!r}; allowed: {', '.join(sorted(allowed))}"
    if got != "a number":
        return f"expected a number, got {got}"
    try:
        fits = abs(float(value)) <= FLOAT32_MAX  # type: ignore[arg-type]
    except OverflowError:  # an integer too large for any float
        fits = False
    return None if fits else f"must be a finite number within ±{FLOAT32_MAX:.1e}"


def _value_type(column: InputColumn) -> Any:
    """A number the float32 model can hold, or one of the column's categories; null where allowed."""
    number = Annotated[float, msgspec.Meta(ge=-FLOAT32_MAX, le=FLOAT32_MAX)]
    kind: Any = number if column.type == "number" else Literal[tuple(column.categories or ())]
    return kind | None if column.nullable else kind


class Inputs:
    """What one model accepts: msgspec types of its records and rows, and the columns of each ONNX input."""

    def __init__(self, manifest: Manifest):
        self.columns, self.names = manifest.inputs, [column.name for column in manifest.inputs]
        self.fields = set(self.names)
        fields = [(f"c{at}", _value_type(column)) for at, column in enumerate(self.columns)]
        rename = {field: name for (field, _), name in zip(fields, self.names, strict=True)}
        self.record: Any = msgspec.defstruct("Record", fields, rename=rename, forbid_unknown_fields=True, gc=False)
        self.row: Any = GenericAlias(tuple, tuple(kind for _, kind in fields))  # tuple[<column 1>, <column 2>, ...]
        self.rows: Any = GenericAlias(list, self.record | self.row)
        self.decoder = msgspec.json.Decoder(self.record | self.rows)  # made once: a decoder is its type's fast path
        self.values = attrgetter(*rename) if len(rename) > 1 else lambda record: (record.c0,)
        numeric = [column.type == "number" for column in self.columns]
        self.feeds = list(zip(manifest.feeds, numeric, strict=True))  # each column's ONNX input, and its kind

    def from_json(self, body: bytes) -> list:
        """/predict: a record, a list of records or rows, or one row."""
        try:
            decoded = self.decoder.decode(body)
            return [decoded] if isinstance(decoded, self.record) else decoded
        except msgspec.MsgspecError:
            return self.checked(rows_of(parse_json(body)))

    def from_mlflow(self, body: bytes) -> list:
        """MLflow's scoring JSON: exactly one of dataframe_split, dataframe_records, instances, inputs."""
        payload = parse_json(body, MLFLOW)
        present = [key for key in MLFLOW_KEYS if key in payload] if isinstance(payload, dict) else []
        if not isinstance(payload, dict) or len(present) != 1:
            found = "; found " + (", ".join(present) or "none") if isinstance(payload, dict) else ""
            raise InputError(f"the body must be a JSON object with exactly one of {', '.join(MLFLOW_KEYS)}{found}")
        key, data = present[0], payload[present[0]]
        if unknown := sorted(map(str, set(payload) - {key})):
            raise InputError(f"unknown keys beside {key}: {', '.join(unknown)}")
        if key == "dataframe_split":
            return self.checked(_split_rows(data))
        if key == "dataframe_records" and not isinstance(data, list):
            raise InputError("dataframe_records must be a list of records")
        if isinstance(data, dict) and data and all(isinstance(values, list) for values in data.values()):
            if len({len(values) for values in data.values()}) != 1:
                raise InputError("every column of a columnar input must hold the same number of values")
            return self.checked([dict(zip(data, values, strict=True)) for values in zip(*data.values(), strict=True)])
        return self.checked(rows_of(data))

    def from_csv(self, body: bytes) -> list:
        """CSV with a header row; an empty cell is a missing value; blank lines are skipped, as pandas does."""
        try:
            header, *lines = [line for line in csv.reader(io.StringIO(body.decode("utf-8"))) if line] or [[]]
        except UnicodeDecodeError:
            raise InputError("malformed CSV: the body is not UTF-8 text") from None
        except csv.Error as error:
            raise InputError(f"malformed CSV: {error}") from None
        if not lines:
            raise InputError("no rows: the CSV " + ("has a header only" if header else "body is empty"))
        numeric = {column.name for column in self.columns if column.type == "number"}
        rows = []
        for index, cells in enumerate(lines):
            if len(cells) != len(header):
                problem = {"row": index, "field": None, "problem": f"expected {len(header)} cells"}
                raise InputError(
                    f"malformed CSV: row {index} has {len(cells)} cells, the header {len(header)}", [problem]
                )
            rows.append({name: _cell(cell, name in numeric) for name, cell in zip(header, cells, strict=True)})
        return self.checked(rows)

    def checked(self, rows: list) -> list:
        """Python rows -> typed rows, or an InputError listing every problem."""
        try:
            return msgspec.convert(rows, self.rows)
        except msgspec.ValidationError as error:
            problems = self.problems(rows) or [{"row": None, "field": None, "problem": str(error)}]
            first, more = problems[0], f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
            where = f"row {first['row']}" + (f", field '{first['field']}'" if first["field"] else "")
            raise InputError(f"invalid input at {where}: {first['problem']}{more}", problems) from None

    def problems(self, rows: list) -> list[dict]:
        found: list[dict] = []
        for index, row in enumerate(rows):
            if isinstance(row, dict):
                found += [{"row": index, "field": n, "problem": "missing field"} for n in self.names if n not in row]
                found += [
                    {"row": index, "field": str(n), "problem": "unknown field"} for n in row if n not in self.fields
                ]
                values = [(column, row[column.name]) for column in self.columns if column.name in row]
            elif isinstance(row, list) and len(row) == len(self.columns):
                values = list(zip(self.columns, row, strict=True))
            else:
                needs = f"a positional row needs {len(self.names)} values ({', '.join(self.names)}), got {len(row)}"
                problem = needs if isinstance(row, list) else "a row must be a record (object) or an array"
                found.append({"row": index, "field": None, "problem": problem})
                continue
            found += [{"row": index, "field": c.name, "problem": p} for c, v in values if (p := _problem(v, c))]
        return found

    def feeds_of(self, rows: list, max_rows: int) -> dict[str, np.ndarray]:
        """Typed rows -> one [N, 1] array per column: float64 numbers (null as NaN), or categories (null as "")."""
        if not rows:
            raise InputError("no rows to predict")
        if len(rows) > max_rows:
            raise InputError(f"{len(rows)} rows is more than the limit of {max_rows} per request", status=413)
        columns = zip(*[row if type(row) is tuple else self.values(row) for row in rows], strict=True)
        feeds = {}
        for (name, numeric), values in zip(self.feeds, columns, strict=True):
            column = (
                np.array(values, np.float64) if numeric else np.array(["" if v is None else v for v in values], object)
            )
            feeds[name] = column.reshape(-1, 1)
        return feeds


def _split_rows(data: object) -> list:
    if not isinstance(data, dict) or not all(isinstance(data.get(key), list) for key in ("columns", "data")):
        raise InputError(
            "dataframe_split must be an object with 'columns' (a list of names) and 'data' (a list of rows)"
        )
    if unknown := sorted(map(str, set(data) - {"columns", "data", "index"})):
        raise InputError(f"dataframe_split: unknown keys {', '.join(unknown)}")
    names = data["columns"]
    if not all(isinstance(name, str) for name in names) or len(set(names)) != len(names):
        raise InputError("dataframe_split.columns must be distinct column names")
    if not isinstance(data.get("index", []), list):
        raise InputError("dataframe_split.index must be a list")
    for index, row in enumerate(data["data"]):
        if not isinstance(row, list) or len(row) != len(names):
            raise InputError(f"dataframe_split.data row {index} must be a list of {len(names)} values",
                             [{"row": index, "field": None, "problem": f"expected {len(names)} values"}])  # fmt: skip
    return [dict(zip(names, row, strict=True)) for row in data["data"]]


def _cell(cell: str, numeric: bool) -> object:
    """An empty cell is missing; a number column's cell is a number if it reads as a finite one."""
    if cell == "" or not numeric:
        return cell or None
    try:
        number = float(cell)
    except ValueError:
        return cell
    return number if math.isfinite(number) else cell  # "nan" and "inf" are not measurements
