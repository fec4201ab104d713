"""Atomic file writes: a stage killed half-way never leaves a half-written output behind.

Each write goes to a temporary file in the target's folder, is flushed to disk, then renamed over the
target in one step, so readers (and DVC) see either the old file or the new one, never a torn one.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pandas is imported where a frame is read: the champion stage writes JSON only
    import pandas as pd


def write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def json_bytes(document: object) -> bytes:
    """Sorted keys and a final newline, so equal documents are equal bytes."""
    return (json.dumps(document, indent=2, sort_keys=True) + "\n").encode("utf-8")


def write_json(path: Path, document: object) -> None:
    write_bytes(path, json_bytes(document))


def csv_bytes(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False, lineterminator="\n").encode("utf-8")


def write_csv(path: Path, frame: pd.DataFrame) -> None:
    write_bytes(path, csv_bytes(frame))


def read_text_csv(path: Path) -> pd.DataFrame:
    """Every cell as the text the file holds: no type guessing ("NA" stays "NA", "02139" stays "02139")."""
    import pandas as pd

    return pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False)


def read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def write_directory(path: Path, contents: dict[str, bytes]) -> None:
    """Replace the folder `path` by one holding exactly `contents` (file name -> bytes), written aside first.

    The new folder is complete before it takes the old one's place; a crash between the two renames
    leaves the old one beside it as `.<name>.old`.
    """
    staging, old = path.with_name(f".{path.name}.tmp"), path.with_name(f".{path.name}.old")
    for leftover in (staging, old):
        shutil.rmtree(leftover, ignore_errors=True)
    for name, data in contents.items():
        write_bytes(staging / name, data)
    if path.exists():
        os.replace(path, old)
    os.replace(staging, path)
    shutil.rmtree(old, ignore_errors=True)
