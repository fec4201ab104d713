"""The wine data set: three cultivars told apart by 13 chemical measurements; classes are the integers 0, 1, 2.

178 wines, shipped inside scikit-learn (`sklearn.datasets.load_wine`). It shows integer classes and a
column name ONNX cannot take as it is (`od280/od315_of_diluted_wines`): the server still speaks it.
"""

from __future__ import annotations

import pandas as pd
from sklearn.datasets import load_wine

from mlproject.schema import CategoricalColumn, DatasetSchema, NumericColumn

RANGES = {
    "alcohol": (10.0, 16.0),
    "malic_acid": (0.0, 8.0),
    "ash": (1.0, 4.0),
    "alcalinity_of_ash": (5.0, 40.0),
    "magnesium": (50.0, 200.0),
    "total_phenols": (0.5, 5.0),
    "flavanoids": (0.1, 6.0),
    "nonflavanoid_phenols": (0.05, 1.0),
    "proanthocyanins": (0.2, 4.0),
    "color_intensity": (1.0, 15.0),
    "hue": (0.3, 2.0),
    "od280/od315_of_diluted_wines": (1.0, 5.0),
    "proline": (200.0, 2000.0),
}

SCHEMA = DatasetSchema(
    features=tuple(NumericColumn(name, minimum=low, maximum=high) for name, (low, high) in RANGES.items()),
    target=CategoricalColumn("cultivar", categories=(0, 1, 2)),
    min_rows=100,
)


def load_raw() -> pd.DataFrame:
    return load_wine(as_frame=True).frame.rename(columns={"target": "cultivar"})
