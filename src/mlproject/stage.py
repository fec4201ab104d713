"""What every stage's `main()` shares: one summary line on success, one error line and exit 1 on failure.

A StageError is a problem the user can fix (bad params, bad data, a model that cannot be exported): it
gets its message. An error from a library underneath (scikit-learn refusing the data, say) gets one
line naming its type and message, and the traceback is there for whoever asks for it with
MLPROJECT_TRACEBACK=1.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable

TRACEBACK_VARIABLE = "MLPROJECT_TRACEBACK"


class StageError(Exception):
    """A problem with the inputs of a stage, explained by its message."""


def run(name: str, work: Callable[[], str]) -> int:
    try:
        summary = work()
    except (StageError, FileNotFoundError) as error:
        print(f"{name}: {error}", file=sys.stderr)
        return 1
    except Exception as error:  # noqa: BLE001 - the stage's edge: one line, the traceback on request
        if os.environ.get(TRACEBACK_VARIABLE):
            traceback.print_exc()
        lines = str(error).strip().splitlines()
        library = type(error).__module__.split(".")[0]
        kind = type(error).__name__ if library == "builtins" else f"{library} {type(error).__name__}"
        print(
            f"{name}: {kind}: {lines[0] if lines else 'no message'} (set {TRACEBACK_VARIABLE}=1 for the traceback)",
            file=sys.stderr,
        )
        return 1
    print(f"{name}: {summary}")
    return 0
