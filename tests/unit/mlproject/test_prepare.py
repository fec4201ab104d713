import pandas as pd
import pytest

from mlproject.dataset import SCHEMA
from mlproject.prepare import split
from mlproject.schema import SchemaError, clean


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
