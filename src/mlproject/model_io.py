"""The fitted model on disk: skops (no pickle: loading runs no code), in a canonical byte form.

skops refuses to load a type it does not know unless told to trust it. Trusted here: numpy's dtype and
an ordered dict, scikit-learn's own classes and functions, the classes of features.py (your transformers),
and the packages of the models whose ONNX converters features.py registers (`lightgbm.basic.Booster` inside
a LightGBM model): registering one is vouching for it. So a new estimator or feature class needs no list
kept in step. Anything else is refused by name.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import skops.io
from sklearn.base import BaseEstimator

from mlproject import features, files
from mlproject.stage import StageError

TRUSTED_TYPES = ("numpy.dtype", "collections.OrderedDict")
TRUSTED_PREFIXES = ("sklearn.",)
FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
SCHEMA_ENTRY = "schema.json"


class ModelFileError(StageError, TypeError):
    """The model file holds types nobody vouched for."""


def feature_classes() -> list[str]:
    """The dotted names of the classes defined in features.py."""
    return [
        f"{value.__module__}.{value.__qualname__}"
        for value in vars(features).values()
        if isinstance(value, type) and value.__module__ == features.__name__
    ]


def registered_packages() -> tuple[str, ...]:
    """The top-level packages (`lightgbm.`) of the classes features.ONNX_CONVERTERS has converters for."""
    packages = {cls.__module__.partition(".")[0] for cls in features.ONNX_CONVERTERS}
    return tuple(f"{package}." for package in sorted(packages - {features.__name__.partition(".")[0]}))


def untrusted(names: list[str]) -> list[str]:
    """The names, sorted, that are neither skops' nor scikit-learn's, nor defined in features.py, nor of a
    package features.py registers converters for."""
    prefixes, own = TRUSTED_PREFIXES + registered_packages(), set(feature_classes())
    return sorted(name for name in names if not (name in TRUSTED_TYPES or name.startswith(prefixes) or name in own))


def trusted_types_of(data: bytes) -> list[str]:
    """The types beyond skops' defaults that this archive needs; ModelFileError if any is not trusted."""
    needed = skops.io.get_untrusted_types(data=data)
    if refused := untrusted(needed):
        raise ModelFileError(
            f"the model holds types that are neither scikit-learn's nor defined in features.py: {', '.join(refused)}; "
            "move your own classes into src/mlproject/features.py, or register their ONNX converter there"
        )
    return sorted(needed)


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
    try:
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
    except (KeyError, zipfile.BadZipFile, json.JSONDecodeError) as error:
        raise ModelFileError(
            f"skops wrote an archive of a layout this template does not know ({error}); "
            "check the skops version against requirements.txt"
        ) from None
    return out.getvalue()


def save_model(model: BaseEstimator, path: Path) -> None:
    data = canonical_skops(skops.io.dumps(model))
    trusted_types_of(data)  # refuse now what could not be loaded later
    files.write_bytes(path, data)


def load_model(path: Path) -> BaseEstimator:
    data = path.read_bytes()
    return skops.io.loads(data, trusted=trusted_types_of(data))
