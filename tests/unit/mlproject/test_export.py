import hashlib
from types import SimpleNamespace

import onnx
import pytest

from mlproject import config, export
from mlproject.dataset import SCHEMA
from mlproject.onnx_graph import group_inputs
from mlproject.train import fit


def test_the_onnx_model_takes_a_numbers_and_a_categories_tensor_and_has_plain_outputs(fitted):
    onnx_model, feeds = export.convert(fitted, SCHEMA)
    graph = onnx.load_from_string(onnx_model).graph
    assert feeds == [
        {"name": "numbers", "columns": SCHEMA.numeric},
        {"name": "categories", "columns": SCHEMA.categorical},
    ]
    assert [i.name for i in graph.input] == ["numbers", "categories"]
    assert [d.dim_value for d in graph.input[0].type.tensor_type.shape.dim] == [0, len(SCHEMA.numeric)]
    assert [o.name for o in graph.output] == ["label", "probabilities"]
    per_column, columns = export.convert(fitted, SCHEMA, group=False)
    assert [i.name for i in onnx.load_from_string(per_column).graph.input] == SCHEMA.feature_names
    assert columns == [{"name": name, "columns": [name]} for name in SCHEMA.feature_names]
    assert len(graph.node) < len(onnx.load_from_string(per_column).graph.node)


def test_a_graph_of_another_shape_keeps_one_input_per_column(fitted):
    per_column, _ = export.convert(fitted, SCHEMA, group=False)
    model = onnx.load_from_string(per_column)
    for node in model.graph.node:  # a numeric Concat along another axis is not the pattern
        if node.op_type == "Concat" and list(node.input) == SCHEMA.numeric:
            node.attribute[0].i = 0
    feeds = group_inputs(model, SCHEMA.numeric, SCHEMA.categorical)
    assert feeds[: len(SCHEMA.numeric)] == [{"name": name, "columns": [name]} for name in SCHEMA.numeric]
    assert feeds[-1] == {"name": "categories", "columns": SCHEMA.categorical}
    assert [i.name for i in model.graph.input] == [feed["name"] for feed in feeds]


@pytest.mark.parametrize("classifier", ["random_forest", "logistic_regression"])
def test_parity_holds_on_the_whole_test_split(splits, classifier):
    train, test = splits
    model = fit(train, config.parse_params({"train": {"classifier": classifier}}))
    checked = export.parity(model, *export.convert(model, SCHEMA), test, SCHEMA)
    assert checked["rows"] == len(test) and checked["labels_equal"]
    assert checked["max_probability_difference"] <= export.PROBABILITY_TOLERANCE


def test_a_model_that_disagrees_fails_the_export_with_a_message(splits, fitted):
    train, test = splits
    other = fit(train, config.parse_params({"train": {"classifier": "logistic_regression",
                                                     "logistic_regression": {"C": 0.001}}}))  # fmt: skip
    with pytest.raises(export.ExportError, match=r"disagree on \d+ of 69 test rows|differ from scikit-learn's"):
        export.parity(fitted, *export.convert(other, SCHEMA), test, SCHEMA)


def test_the_manifest_describes_the_model_and_pins_its_bytes(fitted, splits):
    onnx_model, feeds = export.convert(fitted, SCHEMA)
    version = SimpleNamespace(name="m", version="3", run_id="r")
    manifest = export.manifest(version, "c0ffee", fitted, onnx_model, feeds, {"rows": 1}, SCHEMA)
    assert manifest["model_sha256"] == hashlib.sha256(onnx_model).hexdigest()
    assert (manifest["model_version"], manifest["git_commit"], manifest["label"]) == (3, "c0ffee", "species")
    assert manifest["classes"] == ["Adelie", "Chinstrap", "Gentoo"]
    assert [c["name"] for c in manifest["inputs"]] == SCHEMA.feature_names
    assert manifest["feeds"] == feeds
