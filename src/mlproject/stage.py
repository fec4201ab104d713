"""What every stage's `main()` shares: one summary line on success, one error line and exit 1 on failure.

A StageError is a problem the user can fix (bad params, bad data, a model that cannot be exported): it
gets its message. An error from a library underneath (scikit-learn refusing the data, say) gets one
line naming its type and message, and the traceback is there for whoever asks for it with
MLPROJECT_TRACEBACK=1.

DVC deletes a stage's outputs before it runs the stage (unless they are `persist`, which would turn its
run-cache off). So a stage that fails puts its previous outputs back from DVC's cache, as dvc.lock
records them (the missing ones and any it had rewritten): bad params or data lose nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

from mlproject import files

TRACEBACK_VARIABLE = "MLPROJECT_TRACEBACK"


class StageError(Exception):
    """A problem with the inputs of a stage, explained by its message."""


def restore_outputs(name: str, lock_file: Path = Path("dvc.lock")) -> list[str]:
    """Put back from DVC's cache every output of stage `name` that differs from what dvc.lock records."""
    import yaml
    from dvc.repo import Repo

    if not lock_file.exists():
        return []
    outs = (yaml.safe_load(lock_file.read_text()) or {}).get("stages", {}).get(name, {}).get("outs", [])
    cache = Repo(".").cache.local
    restored = []
    for out in outs:
        path, md5 = Path(out["path"]), out.get("md5", "")
        if not Path(cache.oid_to_path(md5)).exists():  # never cached (cache: false): git may have it
            if not path.exists() and (committed := from_git(path)) is not None and md5_of_bytes(committed) == md5:
                files.write_bytes(path, committed)
                restored.append(str(path))
            continue
        if md5.endswith(".dir"):
            entries = {e["relpath"]: e["md5"] for e in json.loads(Path(cache.oid_to_path(md5)).read_text())}
            present = (
                {str(f.relative_to(path)): md5_of(f) for f in path.rglob("*") if f.is_file()} if path.is_dir() else {}
            )
            if present == entries:
                continue
            # every file read from the cache before the folder is touched: a missing one changes nothing
            contents = {relpath: Path(cache.oid_to_path(entry)).read_bytes() for relpath, entry in entries.items()}
            files.write_directory(path, contents)
        else:
            if path.is_file() and md5_of(path) == md5:
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(cache.oid_to_path(md5), path)
        restored.append(str(path))
    return restored


def md5_of(path: Path) -> str:
    """The same digest dvc.lock records for a file output."""
    return md5_of_bytes(path.read_bytes())


def md5_of_bytes(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def from_git(path: Path) -> bytes | None:
    """The file as the last commit holds it (an output DVC does not cache, such as the metrics), or None."""
    import subprocess

    try:
        return subprocess.run(["git", "show", f"HEAD:{path.as_posix()}"], capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None


def run(name: str, work: Callable[[], str]) -> int:
    code = _run(name, work)
    if code != 0:
        try:
            restored = restore_outputs(name)
        except Exception as error:  # noqa: BLE001 - the stage already failed; say this in one line too
            print(f"{name}: could not put back the previous outputs ({error}); `dvc checkout` does", file=sys.stderr)
        else:
            if restored:
                print(f"{name}: the previous {', '.join(restored)} put back from DVC's cache")
    return code


def _run(name: str, work: Callable[[], str]) -> int:
    try:
        summary = work()
    except (StageError, FileNotFoundError) as error:
        if os.environ.get(TRACEBACK_VARIABLE):
            traceback.print_exc()
        print(f"{name}: {error}", file=sys.stderr)
        return 1
    except Exception as error:  # noqa: BLE001 - the stage's edge: one line, the traceback on request
        if os.environ.get(TRACEBACK_VARIABLE):
            traceback.print_exc()  # the whole chain: each cause with its own traceback
        library = type(error).__module__.split(".")[0]
        kind = type(error).__name__ if library == "builtins" else f"{library} {type(error).__name__}"
        said = chain_of(error) or "no message"
        print(f"{name}: {kind}: {said} (set {TRACEBACK_VARIABLE}=1 for the traceback)", file=sys.stderr)
        return 1
    print(f"{name}: {summary}")
    return 0


def chain_of(error: BaseException, limit: int = 3) -> str:
    """An exception and what caused it, in one line: `first message; caused by TypeError: ...`.

    A library that re-raises its own error keeps the root cause in `__cause__` or `__context__`; the line
    names it, since that is usually what the user can act on. Each message is cut to its first line.
    """
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen and len(parts) < limit:
        seen.add(id(current))
        lines = str(current).strip().splitlines()
        first = lines[0] if lines else ""
        kind = type(current).__name__
        parts.append(first if current is error and first else f"{kind}: {first}" if first else kind)
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    return "; caused by ".join(parts)
