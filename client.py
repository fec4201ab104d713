"""A client of the model server: post one row, then a batch, and print the answers.

    make serve                      # in another terminal: the champion on http://127.0.0.1:8000
    python client.py                # or: python client.py http://host:port

It asks the server for its columns (`/metadata`) and takes its rows from the test split, so it works
for any project the template holds. Standard library only.
"""

from __future__ import annotations

import csv
import json
import sys
import urllib.request
from pathlib import Path

TEST_SPLIT = Path(__file__).parent / "data" / "processed" / "test.csv"


def call(url: str, body: object | None = None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def rows(columns: list[dict], count: int) -> list[list]:
    """The first `count` rows of the test split, in the server's column order (numbers as numbers, gaps as null)."""
    with TEST_SPLIT.open(newline="") as handle:
        records = list(csv.DictReader(handle))[:count]
    kinds = {column["name"]: column["type"] for column in columns}
    return [[(float(r[n]) if kinds[n] == "number" else r[n]) if r[n] != "" else None for n in kinds] for r in records]


def main(base: str = "http://127.0.0.1:8000") -> None:
    columns = call(f"{base}/metadata")["inputs"]
    one, batch = rows(columns, 1)[0], rows(columns, 5)
    answer = call(f"{base}/predict", one)
    print("one row:", one, "->", answer["prediction"])
    print("a batch of", len(batch), "->", call(f"{base}/predict", batch)["predictions"])


if __name__ == "__main__":
    main(*sys.argv[1:])
