"""Regroup an exported model's inputs: one tensor for all numeric columns, one for all categorical ones.

skl2onnx gives every column its own [N, 1] input, joins the numbers again with a Concat and one-hot
encodes each category with its own OneHotEncoder. For one row, onnxruntime's fixed cost per input and
per node is most of a prediction: the regrouped graph (numbers [N, k] straight into the imputer; one
OneHotEncoder over categories [N, c] with every column's categories, and a Gather that puts the
one-hot columns back in the original order) computes the same features with fewer of both, and leaves
the classifier untouched. A graph that does not have the expected shape keeps its per-column inputs;
either way the export's parity check has the last word.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

NUMBERS, CATEGORIES = "numbers", "categories"


def group_inputs(model: onnx.ModelProto, numeric: list[str], categorical: list[str]) -> list[dict]:
    """Rewrite `model` in place where its shape allows; return its feeds: [{"name", "columns"}], in input order."""
    graph = model.graph
    feeds = []
    for columns, merge, name in ((numeric, _merge_numbers, NUMBERS), (categorical, _merge_categories, CATEGORIES)):
        if columns and merge(graph, columns):
            feeds.append({"name": name, "columns": list(columns)})
        else:
            feeds.extend(one_feed_per_column(columns))
    inputs = {value.name: value for value in graph.input}
    ordered = [inputs[feed["name"]] for feed in feeds]
    del graph.input[:]
    graph.input.extend(ordered)
    onnx.checker.check_model(model)
    return feeds


def one_feed_per_column(columns: list[str]) -> list[dict]:
    """The feeds of skl2onnx's own inputs: each column its own, named after it."""
    return [{"name": column, "columns": [column]} for column in columns]


def _consumers(graph: onnx.GraphProto, name: str) -> list[onnx.NodeProto]:
    return [node for node in graph.node if name in node.input]


def _only_consumer(graph: onnx.GraphProto, names: list[str], op_type: str) -> onnx.NodeProto | None:
    """The one node of `op_type` that all of `names` feed, taking exactly them, in order; else None."""
    found = {id(node): node for name in names for node in _consumers(graph, name)}
    if len(found) != 1:
        return None
    (node,) = found.values()
    return node if node.op_type == op_type and list(node.input) == names else None


def _attributes(node: onnx.NodeProto) -> dict:
    return {attribute.name: helper.get_attribute_value(attribute) for attribute in node.attribute}


def _replace_inputs(graph: onnx.GraphProto, old: list[str], new: onnx.ValueInfoProto) -> None:
    kept = [value for value in graph.input if value.name not in old]
    del graph.input[:]
    graph.input.extend([*kept, new])


def _rename_uses(graph: onnx.GraphProto, old: str, new: str) -> None:
    for node in graph.node:
        node.input[:] = [new if name == old else name for name in node.input]


def _merge_numbers(graph: onnx.GraphProto, columns: list[str]) -> bool:
    concat = _only_consumer(graph, columns, "Concat")
    if concat is None or _attributes(concat).get("axis") != 1:
        return False
    graph.node.remove(concat)
    _rename_uses(graph, concat.output[0], NUMBERS)
    _replace_inputs(graph, columns, helper.make_tensor_value_info(NUMBERS, TensorProto.FLOAT, [None, len(columns)]))
    return True


def _merge_categories(graph: onnx.GraphProto, columns: list[str]) -> bool:
    encoders = [_only_consumer(graph, [column], "OneHotEncoder") for column in columns]
    if any(encoder is None or _attributes(encoder).get("zeros", 1) != 1 for encoder in encoders):
        return False
    concat = _only_consumer(graph, [encoder.output[0] for encoder in encoders], "Concat")
    if concat is None or _attributes(concat).get("axis") not in (-1, 2):
        return False
    after = _consumers(graph, concat.output[0])
    if len(after) != 1 or after[0].op_type != "Reshape" or after[0].input[0] != concat.output[0]:
        return False
    reshape = after[0]
    categories = [list(_attributes(encoder)["cats_strings"]) for encoder in encoders]
    union = sorted(set().union(*categories))
    order = [
        position * len(union) + union.index(category) for position, own in enumerate(categories) for category in own
    ]
    for node in (*encoders, concat, reshape):
        graph.node.remove(node)
    onehot, flat = f"{CATEGORIES}_onehot", f"{CATEGORIES}_onehot_flat"
    shape, order_name = f"{CATEGORIES}_onehot_shape", f"{CATEGORIES}_onehot_order"
    graph.initializer.extend([
        numpy_helper.from_array(np.array([-1, len(columns) * len(union)], dtype=np.int64), shape),
        numpy_helper.from_array(np.array(order, dtype=np.int64), order_name),
    ])  # fmt: skip
    nodes = [
        helper.make_node("OneHotEncoder", [CATEGORIES], [onehot], domain="ai.onnx.ml", cats_strings=union, zeros=1),
        helper.make_node("Reshape", [onehot, shape], [flat]),
        helper.make_node("Gather", [flat, order_name], [reshape.output[0]], axis=1),
    ]
    for position, node in enumerate(nodes):
        graph.node.insert(position, node)
    unused = {reshape.input[1]} - {name for node in graph.node for name in node.input}
    kept = [initializer for initializer in graph.initializer if initializer.name not in unused]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    _replace_inputs(graph, columns, helper.make_tensor_value_info(CATEGORIES, TensorProto.STRING, [None, len(columns)]))
    return True
