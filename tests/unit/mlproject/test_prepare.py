import pandas as pd
import pytest

from mlproject.prepare import split
from mlproject.schema import NumericColumn, SchemaError, clean
from tests.helpers import penguins_example, synthetic_frame

SCHEMA = penguins_example().SCHEMA


def test_split_is_stratified_and_disjoint(penguins):
    frame = clean(penguins, SCHEMA)
    train, test = split(frame, SCHEMA, test_size=0.2, seed=7)
    assert len(train) + len(test) == len(frame)
    assert len(test) == round(0.2 * len(frame))
    shares = frame["species"].value_counts(normalize=True)
    assert (test["species"].value_counts(normalize=True) - shares).abs().max() < 0.02
    assert pd.merge(train, test, how="inner").empty


def test_split_depends_on_the_seed_only(penguins):
    frame = clean(penguins, SCHEMA)
    first, again, other = (split(frame, SCHEMA, 0.2, seed)[1] for seed in (1, 1, 2))
    pd.testing.assert_frame_equal(first, again)
    assert not first.equals(other)


def test_a_class_too_rare_to_stratify_is_named(penguins):
    frame = clean(penguins, SCHEMA)
    lone = frame[frame["species"] == "Gentoo"].head(1)
    rare = pd.concat([frame[frame["species"] != "Gentoo"], lone])
    with pytest.raises(SchemaError, match="classes Gentoo have fewer than 2 rows"):
        split(rare, SCHEMA, 0.2, seed=0)


def test_a_regression_split_is_seeded_and_not_stratified():
    regression = type(SCHEMA)(SCHEMA.features, NumericColumn("mass", minimum=0.0, maximum=10.0), min_rows=10)
    frame = clean(synthetic_frame(regression, rows=100, seed=3), regression)
    train, test = split(frame, regression, test_size=0.25, seed=5)
    assert (len(train), len(test)) == (75, 25)
    pd.testing.assert_frame_equal(test, split(frame, regression, test_size=0.25, seed=5)[1])


def test_the_active_projects_data_splits_as_its_params_say(synthetic, synthetic_splits, schema, params):
    train, test = synthetic_splits
    assert len(test) == pytest.approx(params.data.test_size * (len(train) + len(test)), abs=1)
    assert list(train.columns) == [*schema.feature_names, schema.label]
