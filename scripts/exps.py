"""`make exps`: DVC's experiments table, metrics first, with only the parameters that differ between the
experiments, each named by the shortest tail of its key that is still unique
(`model.steps.classify.params.n_estimators` -> `n_estimators`), so it reads at 160 columns. Of the
cross-validated figures it keeps the metric the champion rule compares (`cv.log_loss.mean`, `.std`)."""

from __future__ import annotations

import io
import subprocess
import sys

import pandas as pd

from mlproject.config import load_params

HIDDEN = r"^(src/|data/|models/|reports/|requirements.txt|State|Executor|precision\.|recall\.|cv\.(?!{metric}\.))"
FIXED = ["Experiment", "rev", "typ", "Created"]


def short_names(keys: list[str]) -> dict[str, str]:
    """Each dotted key -> its shortest tail of whole parts that no other key ends with."""
    names = {}
    for key in keys:
        parts = key.split(".")
        for length in range(1, len(parts) + 1):
            tail = ".".join(parts[-length:])
            if sum(other == tail or other.endswith(f".{tail}") for other in keys) == 1:
                names[key] = tail
                break
    return names


def table(csv_text: str) -> str:
    frame = pd.read_csv(io.StringIO(csv_text), dtype=str, keep_default_na=False)
    for column in FIXED:  # with no experiments yet, DVC leaves out the columns it has nothing for
        if column not in frame:
            frame[column] = ""
    frame["Experiment"] = [name or rev for name, rev in zip(frame["Experiment"], frame["rev"], strict=True)]
    frame["Created"] = frame["Created"].str.replace("T", " ").str[:16]
    values = [column for column in frame.columns if column not in FIXED]
    frame = frame[["Experiment", "Created", *values]].rename(columns=short_names(values))
    return frame.to_string(index=False)


def main() -> int:
    hidden = HIDDEN.format(metric=load_params().comparison_metric)
    shown = subprocess.run(
        ["dvc", "exp", "show", "--csv", "--only-changed", "--drop", hidden], capture_output=True, text=True
    )
    if shown.returncode != 0:
        print(shown.stderr.strip(), file=sys.stderr)
        return shown.returncode
    print(table(shown.stdout))
    return 0


if __name__ == "__main__":
    sys.exit(main())
