"""Stage `load_data`: write the raw data set to data/raw/. THE place to plug in your own data.

To use your own data, change two things in this file:
1. `SCHEMA`: your feature columns (numbers with their ranges, categories with their allowed values),
   your target column (a CategoricalColumn of its classes for classification, a NumericColumn with
   its range for regression; `task` in params.yaml says the same), and the fewest rows you accept.
2. `load_raw()`: return your raw table as a DataFrame (read a file tracked with `dvc add`, a query
   result, ...). If your raw file is already tracked by DVC (`dvc add data/raw/yours.csv` or
   `dvc import-url`) at data/raw/dataset.csv, delete this stage from dvc.yaml.

The default is the Palmer penguins data (CC0), shipped inside the `palmerpenguins` package, so a fresh
clone reproduces with no network and no DVC remote.
"""

from __future__ import annotations

import sys
from importlib import resources

import pandas as pd

from mlproject import config, files, stage
from mlproject.schema import CategoricalColumn, DatasetSchema, NumericColumn

SCHEMA = DatasetSchema(
    features=(
        NumericColumn("bill_length_mm", minimum=25.0, maximum=70.0),
        NumericColumn("bill_depth_mm", minimum=10.0, maximum=25.0),
        NumericColumn("flipper_length_mm", minimum=150.0, maximum=250.0),
        NumericColumn("body_mass_g", minimum=2000.0, maximum=7000.0),
        CategoricalColumn("island", categories=("Biscoe", "Dream", "Torgersen"), nullable=False),
        CategoricalColumn("sex", categories=("female", "male")),
    ),
    target=CategoricalColumn("species", categories=("Adelie", "Chinstrap", "Gentoo")),
    min_rows=100,
    ignored_columns=("year",),
)


def load_raw() -> pd.DataFrame:
    """The raw penguins table exactly as the package ships it (344 rows, gaps included)."""
    source = resources.files("palmerpenguins") / "data" / "penguins.csv"
    with source.open("rb") as handle:
        return pd.read_csv(handle)


def write_raw() -> str:
    files.write_csv(config.RAW_DATA, load_raw())
    return f"wrote {config.RAW_DATA}"


def main() -> int:
    return stage.run("load_data", write_raw)


if __name__ == "__main__":
    sys.exit(main())
