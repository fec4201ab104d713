"""What every stage's `main()` shares: one summary line on success, one error line and exit 1 on failure.

A StageError is a problem the user can fix (bad params, bad data, a model that cannot be exported): it
gets its message, not a traceback. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Callable


class StageError(Exception):
    """A problem with the inputs of a stage, explained by its message."""


def run(name: str, work: Callable[[], str]) -> int:
    try:
        summary = work()
    except (StageError, FileNotFoundError) as error:
        print(f"{name}: {error}", file=sys.stderr)
        return 1
    print(f"{name}: {summary}")
    return 0
