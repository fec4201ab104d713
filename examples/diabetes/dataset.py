"""The diabetes data set: a regression of disease progression one year on from ten baseline measurements.

442 patients, shipped inside scikit-learn (`sklearn.datasets.load_diabetes`), so it works offline. The
ten features come centred and scaled by scikit-learn; the target is a progression score from 25 to 346.
"""

from __future__ import annotations

import pandas as pd
from sklearn.datasets import load_diabetes

from mlproject.schema import DatasetSchema, NumericColumn

FEATURES = ("age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6")

SCHEMA = DatasetSchema(
    features=tuple(NumericColumn(name, minimum=-0.5, maximum=0.5) for name in FEATURES),
    target=NumericColumn("progression", minimum=0.0, maximum=400.0),
    min_rows=100,
)


def load_raw() -> pd.DataFrame:
    return load_diabetes(as_frame=True).frame.rename(columns={"target": "progression"})
