"""Your data set: its schema and where its rows come from. THE place to plug in your own data.

To use your own data, change the two things in this file (and `task` in params.yaml to match):
1. `SCHEMA`: the feature columns (numbers with their plausible ranges, categories with their allowed
   values), the target column (a CategoricalColumn of its classes for classification, a NumericColumn
   with its range for regression), the fewest rows you accept, and columns the raw table has but the
   model must not see.
2. `load_raw()`: return the raw table as a DataFrame (read a file, run a query, ...). The `load_data`
   stage writes it to data/raw/dataset.csv, and `prepare` checks it against SCHEMA.

The default is the Palmer penguins data (CC0), shipped inside the `palmerpenguins` package, so a fresh
clone reproduces with no network and no DVC remote.
"""

from __future__ import annotations

from importlib import resources

import pandas as pd

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
