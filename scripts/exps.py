"""`make exps`: DVC's experiments table, metrics first, with only the parameters that differ between the
experiments, each named by the shortest tail of its key that is still unique
(`model.steps.classify.params.n_estimators` -> `n_estimators`), so it reads at 160 columns. Of the
metrics it shows the two the registry decides on: the gate's on the test split, and the compared one
cross-validated (`cv.log_loss.mean`, `cv.log_loss.std`) and on the test split; `dvc metrics show` has all."""

from __future__ import annotations

import io
import subprocess
import sys

import pandas as pd

from mlproject.config import METRICS, Params, ParamsError, load_params

FILES = r"src/|data/|models/|reports/|requirements.txt|State|Executor|precision\.|recall\."
FIXED = ["Experiment", "rev", "typ", "Created"]


def hidden(params: Params) -> str:
    """DVC's --drop pattern: files, and the metrics the registry does not decide on."""
    kept = {params.registry.gate.metric, params.comparison_metric}
    others = sorted({name for task in METRICS.values() for name in task} - kept)
    return rf"^({FILES}|cv\.(?!{params.comparison_metric}\.)|({'|'.join(others)})$)"


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
    params = [column for column in values if not column.startswith("cv.")]  # cv.* keep their whole names
    frame = frame[["Experiment", "Created", *values]].rename(columns=short_names(params))
    return frame.to_string(index=False)


def main() -> int:
    try:
        params = load_params()
    except ParamsError as error:
        print(f"exps: {error}", file=sys.stderr)
        return 1
    shown = subprocess.run(
        ["dvc", "exp", "show", "--csv", "--only-changed", "--drop", hidden(params)],
        capture_output=True,
        text=True,
    )
    if shown.returncode != 0:
        print(shown.stderr.strip(), file=sys.stderr)
        return shown.returncode
    print(table(shown.stdout))
    return 0


if __name__ == "__main__":
    sys.exit(main())
