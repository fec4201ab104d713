"""The serving bundle: manifest.json and the ONNX model it names, checked before anything is served.

Nothing here unpickles: the manifest is JSON and the model is ONNX, executed by onnxruntime.
onnxruntime is imported only where a session is built: gunicorn's master checks the bundle with
`verify()` before it forks, and a master that had started onnxruntime would hand its workers runtime
state they abort on at exit.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from itertools import chain
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from mlserve.manifest import MANIFEST_FILE, Manifest, ManifestError, decode

if TYPE_CHECKING:
    import numpy as np
    import onnxruntime


class BundleError(RuntimeError):
    """The bundle is missing, unreadable or tampered with; the message says which and where."""


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # "number" or "category"
    nullable: bool
    categories: frozenset[str] = frozenset()

    @cached_property
    def accepted(self) -> frozenset:
        """What a well-formed value may be: the Python types of a number, or the allowed categories."""
        allowed = frozenset({int, float}) if self.kind == "number" else self.categories
        return allowed | ({type(None) if self.kind == "number" else None} if self.nullable else set())


class Feed(NamedTuple):
    """One model input: the columns it carries, in order, all numbers or all categories ([N, k]).

    `accepted` holds each column's accepted values and `values` reads the feed's values from rows in
    column order: worked out once, as a request needs them.
    """

    name: str
    positions: tuple[int, ...]
    numeric: bool
    accepted: tuple[frozenset, ...]
    values: Callable[[list], list]


class Schema:
    """The model's columns and inputs, with the lookups that checking a request needs worked out once."""

    def __init__(self, columns: tuple[Column, ...], feeds: tuple[Feed, ...]):
        self.columns = columns
        self.feeds = feeds
        self.names = [column.name for column in columns]
        self.fields = frozenset(self.names)
        self.values_of = itemgetter(*self.names) if len(columns) > 1 else lambda record: (record[self.names[0]],)


def _flat_values(positions: tuple[int, ...]) -> Callable[[list], list]:
    """rows (in column order) -> the values at `positions`, row after row, in one flat list."""
    if len(positions) == 1:
        pick = itemgetter(positions[0])
        return lambda rows: list(map(pick, rows))
    picks = itemgetter(*positions)
    return lambda rows: list(chain.from_iterable(map(picks, rows)))


@dataclass(frozen=True)
class Bundle:
    manifest: Manifest
    schema: Schema
    session: onnxruntime.InferenceSession
    run_options: onnxruntime.RunOptions  # made once: a run without them makes its own

    @property
    def columns(self) -> tuple[Column, ...]:
        return self.schema.columns

    def predict(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """The manifest's outputs: [labels, probabilities] or [predictions]."""
        return self.session.run(self.manifest.outputs, feeds, self.run_options)


def read_manifest(directory: Path) -> Manifest:
    path = directory / MANIFEST_FILE
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise BundleError(
            f"no model bundle at {directory}: {path.name} is missing (run `dvc repro` to export one)"
        ) from None
    try:
        return decode(data)
    except ManifestError as error:
        raise BundleError(f"{directory}/{error}") from None


def schema_of(manifest: Manifest) -> Schema:
    """Columns and feeds (the manifest has checked that the feeds carry every column once)."""
    columns = tuple(
        Column(column.name, column.type, column.nullable, frozenset(column.categories or ()))
        for column in manifest.inputs
    )
    names = [column.name for column in columns]
    feeds = []
    for feed in manifest.feeds:
        positions = tuple(map(names.index, feed.columns))
        feeds.append(
            Feed(
                feed.name,
                positions,
                numeric=columns[positions[0]].kind == "number",
                accepted=tuple(columns[at].accepted for at in positions),
                values=_flat_values(positions),
            )
        )
    return Schema(columns, tuple(feeds))


def verified_model(directory: Path, manifest: Manifest) -> bytes:
    """The model file's bytes, only if their sha256 is the one the manifest records."""
    path = directory / Path(manifest.model_file).name
    try:
        model = path.read_bytes()
    except FileNotFoundError:
        raise BundleError(f"{path} is missing: the manifest names it but it is not there") from None
    digest = hashlib.sha256(model).hexdigest()
    if digest != manifest.model_sha256:
        raise BundleError(
            f"{path} does not match its manifest: sha256 {digest}, expected {manifest.model_sha256}. "
            "Refusing to serve a model that was changed after export."
        )
    return model


def verify(directory: Path) -> Manifest:
    """Check manifest and model integrity without building a session (fast, for the server's master)."""
    manifest = read_manifest(directory)
    verified_model(directory, manifest)
    return manifest


def load(directory: Path) -> Bundle:
    import onnxruntime

    manifest = read_manifest(directory)
    schema = schema_of(manifest)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1  # one request per worker thread; the workers use the cores
    options.inter_op_num_threads = 1
    options.enable_cpu_mem_arena = False  # for a few rows, the arena's bookkeeping costs more than malloc
    try:
        session = onnxruntime.InferenceSession(
            verified_model(directory, manifest), options, providers=["CPUExecutionProvider"]
        )
    except Exception as error:  # onnxruntime raises its own exception types for a malformed model
        raise BundleError(f"{directory}: the model file cannot be loaded by onnxruntime: {error}") from None
    inputs, feeds = [node.name for node in session.get_inputs()], [feed.name for feed in manifest.feeds]
    if inputs != feeds:
        raise BundleError(f"the model's inputs {inputs} do not match the manifest's feeds {feeds}")
    outputs = [node.name for node in session.get_outputs()]
    if outputs != manifest.outputs:
        raise BundleError(f"the model's outputs {outputs} do not match the manifest's outputs {manifest.outputs}")
    return Bundle(manifest, schema, session, onnxruntime.RunOptions())
