"""Stage `load_data`: write the table `dataset.load_raw()` returns to data/raw/dataset.csv, as it is.

The raw file is then what every later stage reads, versioned by DVC. If your raw file is already tracked
by DVC itself (`dvc add data/raw/dataset.csv`, or `dvc import-url URL data/raw/dataset.csv`), delete this
stage from dvc.yaml.
"""

from __future__ import annotations

import sys

from mlproject import config, dataset, files, stage


def write_raw() -> str:
    frame = dataset.load_raw()
    files.write_csv(config.RAW_DATA, frame)
    return f"wrote {len(frame)} rows to {config.RAW_DATA}"


def main() -> int:
    return stage.run("load_data", write_raw)


if __name__ == "__main__":
    sys.exit(main())
