import hashlib

import pytest

from mlproject import config, conversion, export, pmml
from mlproject.conversion import ConversionError
from mlproject.inputs import model_input
from mlserve import manifest as contract
from tests.helpers import ODD_NAMES, REGRESSION, fit_reference, penguins_example, synthetic_frame

PENGUINS = penguins_example().SCHEMA
EXACT = config.Tolerance()


def test_the_manifest_describes_the_model_and_pins_its_bytes(fitted):
    converted = conversion.convert(fitted, PENGUINS, "classification")
    checked = contract.Parity(rows=1, max_difference=0.0, labels_equal=True)
    manifest = export.build_manifest("m", 3, fitted, converted, checked, PENGUINS, EXACT, "3.0.0")
    assert manifest.model_sha256 == hashlib.sha256(converted.model).hexdigest()
    assert (manifest.model_name, manifest.model_version, manifest.target, manifest.task) == (
        "m", 3, "species", "classification"
    )  # fmt: skip
    assert manifest.classes == ["Adelie", "Chinstrap", "Gentoo"]
    assert [c.name for c in manifest.inputs] == PENGUINS.feature_names
    assert manifest.feeds == converted.feeds and manifest.class_scores == "probabilities"
    assert contract.decode(contract.msgspec.json.encode(manifest)) == manifest


@pytest.mark.slow  # Java
def test_a_regressors_pmml_keeps_odd_column_names_and_agrees_within_the_tolerance():
    train = synthetic_frame(ODD_NAMES, rows=120, seed=4)
    model = fit_reference(train, REGRESSION, ODD_NAMES)
    tolerance = config.Tolerance(absolute=1e-9, relative=1e-12)
    document, entry = export.pmml_export(model, train, ODD_NAMES, tolerance)
    assert entry.file == "model.pmml" and entry.sha256 == hashlib.sha256(document).hexdigest()
    assert entry.parity.rows == len(train) and entry.parity.labels_equal is None
    assert entry.parity.max_difference <= 1e-9
    assert b'<DataField name="od280/od315 ratio"' in document and b'<DataField name="kind/of"' in document
    manifest = export.build_manifest("m", 1, model, conversion.convert(model, ODD_NAMES, "regression"),
                                     entry.parity, ODD_NAMES, tolerance, "3.0.0", entry)  # fmt: skip
    assert contract.decode(contract.msgspec.json.encode(manifest)).pmml == entry


@pytest.mark.slow  # Java
def test_a_pmml_model_that_disagrees_fails_naming_the_difference(fitted, splits):
    train, test = splits
    other = fit_reference(train.sample(frac=0.5, random_state=3), config.Params(), PENGUINS)
    features = model_input(test, PENGUINS)
    answers = pmml.evaluate(pmml.to_pmml(other, PENGUINS), features, PENGUINS, list(fitted.classes_))
    with pytest.raises(ConversionError, match=r"PMML and scikit-learn disagree on \d+ of 69|PMML probabilities"):
        conversion.agreement("PMML", answers, fitted, features, PENGUINS, EXACT)
