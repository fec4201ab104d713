import numpy as np
import pytest

from mlserve.bundle import verify
from mlserve.inputs import Inputs

ROWS = [
    [39.1, 18.7, 181, 3750, "Torgersen", "male"],
    [46.5, 17.9, None, 3500, "Dream", None],
    [None, None, None, None, "Biscoe", None],
]
NAMES = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "island", "sex"]


@pytest.fixture
def inputs(bundle_dir):
    return Inputs(verify(bundle_dir))


@pytest.mark.parametrize("form", ["positional", "records", "mixed"])
def test_feeds_hold_each_column_with_nulls_as_nan_and_empty(inputs, form):
    records = [dict(zip(NAMES, row, strict=True)) for row in ROWS]
    body = {"positional": ROWS, "records": records, "mixed": [records[0], ROWS[1], records[2]]}[form]
    feeds = inputs.feeds_of(inputs.checked(body), len(ROWS))
    assert list(feeds) == NAMES and all(feed.shape == (3, 1) for feed in feeds.values())
    np.testing.assert_array_equal(feeds["flipper_length_mm"].ravel(), [181.0, np.nan, np.nan])
    np.testing.assert_array_equal(feeds["bill_length_mm"].ravel(), [39.1, 46.5, np.nan])
    assert feeds["body_mass_g"].dtype == np.float64
    assert feeds["sex"].dtype == object and feeds["sex"].ravel().tolist() == ["male", "", ""]
    assert feeds["island"].ravel().tolist() == ["Torgersen", "Dream", "Biscoe"]
