"""Stage `train`: build the scikit-learn pipeline from params.yaml, fit it on the training split, save it.

To plug in your own model, add its hyperparameters to `config.TrainParams` and a branch to
`build_classifier`. Every random_state derives from the one `seed` parameter.

The model is saved with skops (no pickle: loading it runs no code), made canonical so that the same fit
gives the same bytes on every run and machine.
"""

from __future__ import annotations

import io
import json
import sys
import zipfile
from pathlib import Path

import pandas as pd
import skops.io
from sklearn.base import ClassifierMixin
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from mlproject import config, files, stage
from mlproject.dataset import SCHEMA
from mlproject.features import build_preprocessor, labels, model_input
from mlproject.schema import DatasetSchema

# Types beyond skops' defaults that the pipelines built here contain. Loading refuses anything else.
TRUSTED_TYPES = [
    "numpy.dtype",
    "sklearn.tree._tree.Tree",
]

# Classifiers whose fit depends on the scale of the numbers; trees do not.
SCALE_SENSITIVE = {"logistic_regression"}

FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
SCHEMA_ENTRY = "schema.json"


def build_classifier(params: config.TrainParams, seed: int) -> ClassifierMixin:
    if params.classifier == "random_forest":
        forest = params.random_forest
        return RandomForestClassifier(
            n_estimators=forest.n_estimators,
            max_depth=forest.max_depth,
            min_samples_leaf=forest.min_samples_leaf,
            n_jobs=params.n_jobs,
            random_state=seed,
        )
    logistic = params.logistic_regression
    return LogisticRegression(C=logistic.C, max_iter=logistic.max_iter, random_state=seed)


def build_pipeline(params: config.TrainParams, schema: DatasetSchema, seed: int) -> Pipeline:
    return Pipeline(
        [
            (
                "preprocess",
                build_preprocessor(schema, params.numeric_imputation, scale=params.classifier in SCALE_SENSITIVE),
            ),
            ("classify", build_classifier(params, seed)),
        ]
    )


def fit(train: pd.DataFrame, params: config.Params, schema: DatasetSchema = SCHEMA) -> Pipeline:
    pipeline = build_pipeline(params.train, schema, params.seed)
    return pipeline.fit(model_input(train, schema), labels(train, schema))


def _renumber_objects(node: object, numbering: dict[str, str]) -> None:
    """Replace the memory addresses skops uses as object ids by their order of first appearance."""
    if isinstance(node, dict):
        if "__id__" in node:
            node["__id__"] = int(numbering.setdefault(str(node["__id__"]), str(len(numbering))))
        if isinstance(node.get("file"), str):
            stem, _, suffix = node["file"].partition(".")
            node["file"] = f"{numbering.setdefault(stem, str(len(numbering)))}.{suffix}"
        for value in node.values():
            _renumber_objects(value, numbering)
    elif isinstance(node, list):
        for value in node:
            _renumber_objects(value, numbering)


def canonical_skops(data: bytes) -> bytes:
    """The same skops archive with its bytes depending on the model only.

    skops names objects and array files after their memory addresses and stamps each zip entry with the
    time; both change from run to run. Ids become first-appearance numbers, entries get a fixed time.
    """
    numbering: dict[str, str] = {}
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
        schema = json.loads(source.read(SCHEMA_ENTRY))
        _renumber_objects(schema, numbering)
        entries = {SCHEMA_ENTRY: json.dumps(schema, sort_keys=True).encode()}
        for name in source.namelist():
            if name != SCHEMA_ENTRY:
                stem, _, suffix = name.partition(".")
                entries[f"{numbering[stem]}.{suffix}"] = source.read(name)
        for name in sorted(entries):
            entry = zipfile.ZipInfo(name, date_time=FIXED_ZIP_TIME)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            target.writestr(entry, entries[name])
    return out.getvalue()


def save_model(model: Pipeline, path: Path) -> None:
    files.write_bytes(path, canonical_skops(skops.io.dumps(model)))


def load_model(path: Path) -> Pipeline:
    untrusted = set(skops.io.get_untrusted_types(file=path)) - set(TRUSTED_TYPES)
    if untrusted:
        raise TypeError(
            f"{path} holds types not listed in mlproject.train.TRUSTED_TYPES: {sorted(untrusted)}. "
            "If your new model uses them on purpose, add them to that list."
        )
    return skops.io.load(path, trusted=TRUSTED_TYPES)


def write_model() -> str:
    params = config.load_params()
    save_model(fit(pd.read_csv(config.TRAIN_DATA), params), config.MODEL_FILE)
    return f"fitted {params.train.classifier}, wrote {config.MODEL_FILE}"


def main() -> int:
    return stage.run("train", write_model)


if __name__ == "__main__":
    sys.exit(main())
