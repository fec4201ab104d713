import hashlib
from types import SimpleNamespace

import onnx
import pytest

from mlproject import config, export
from mlproject.dataset import SCHEMA
from mlproject.train import fit


def test_the_onnx_model_has_one_input_per_column_and_plain_outputs(fitted):
    graph = onnx.load_from_string(export.convert(fitted, SCHEMA)).graph
    assert [i.name for i in graph.input] == SCHEMA.feature_names
    assert [o.name for o in graph.output] == ["label", "probabilities"]


@pytest.mark.parametrize("classifier", ["random_forest", "logistic_regression"])
def test_parity_holds_on_the_whole_test_split(splits, classifier):
    train, test = splits
    model = fit(train, config.parse_params({"train": {"classifier": classifier}}))
    checked = export.parity(model, export.convert(model, SCHEMA), test, SCHEMA)
    assert checked["rows"] == len(test) and checked["labels_equal"]
    assert checked["max_probability_difference"] <= export.PROBABILITY_TOLERANCE


def test_a_model_that_disagrees_fails_the_export_with_a_message(splits, fitted):
    train, test = splits
    other = fit(train, config.parse_params({"train": {"classifier": "logistic_regression",
                                                     "logistic_regression": {"C": 0.001}}}))  # fmt: skip
    with pytest.raises(export.ExportError, match=r"disagree on \d+ of 69 test rows|differ from scikit-learn's"):
        export.parity(fitted, export.convert(other, SCHEMA), test, SCHEMA)


def test_the_manifest_describes_the_model_and_pins_its_bytes(fitted, splits):
    onnx_model = export.convert(fitted, SCHEMA)
    version = SimpleNamespace(name="m", version="3", run_id="r")
    manifest = export.manifest(version, "c0ffee", fitted, onnx_model, {"rows": 1}, SCHEMA)
    assert manifest["model_sha256"] == hashlib.sha256(onnx_model).hexdigest()
    assert (manifest["model_version"], manifest["git_commit"], manifest["label"]) == (3, "c0ffee", "species")
    assert manifest["classes"] == ["Adelie", "Chinstrap", "Gentoo"]
    assert [c["name"] for c in manifest["inputs"]] == SCHEMA.feature_names
