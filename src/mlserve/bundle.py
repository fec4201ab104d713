"""The serving bundle: manifest.json and the ONNX model it names, checked before anything is served.

Nothing here unpickles: the manifest is JSON and the model is ONNX, run by onnxruntime. onnxruntime is
imported only where a session is built: gunicorn's master checks the bundle with `verify()` before it
forks, and a master that had started onnxruntime would hand its workers runtime state they abort on.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mlserve.manifest import MANIFEST_FILE, Manifest, ManifestError, decode

if TYPE_CHECKING:
    import numpy as np
    import onnxruntime


class BundleError(RuntimeError):
    """The bundle is missing, unreadable or tampered with; the message says which and where."""


@dataclass(frozen=True)
class Bundle:
    manifest: Manifest
    session: onnxruntime.InferenceSession
    run_options: onnxruntime.RunOptions  # made once: a run without them makes its own

    def predict(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """The manifest's outputs: [labels, probabilities] or [predictions]."""
        return self.session.run(self.manifest.outputs, feeds, self.run_options)


def verified(directory: Path) -> tuple[Manifest, bytes]:
    """The manifest and the model file's bytes, only if their sha256 is the one the manifest records."""
    try:
        manifest = decode((directory / MANIFEST_FILE).read_bytes())
    except FileNotFoundError:
        raise BundleError(
            f"no model bundle at {directory}: {MANIFEST_FILE} is missing (run `dvc repro` to export one)"
        ) from None
    except ManifestError as error:
        raise BundleError(f"{directory}/{error}") from None
    path = directory / Path(manifest.model_file).name
    if not path.is_file():
        raise BundleError(f"{path} is missing: the manifest names it but it is not there")
    model = path.read_bytes()
    if (digest := hashlib.sha256(model).hexdigest()) != manifest.model_sha256:
        raise BundleError(
            f"{path} does not match its manifest: sha256 {digest}, expected {manifest.model_sha256}. "
            "Refusing to serve a model that was changed after export."
        )
    return manifest, model


def verify(directory: Path) -> Manifest:
    """Check manifest and model integrity without building a session (fast, for the server's master)."""
    return verified(directory)[0]


def load(directory: Path) -> Bundle:
    import onnxruntime

    manifest, model = verified(directory)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1  # one request per worker thread; the workers use the cores
    options.inter_op_num_threads = 1
    options.enable_cpu_mem_arena = False  # for a few rows, the arena's bookkeeping costs more than malloc
    try:
        session = onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own exception types for a malformed model
        raise BundleError(f"{directory}: the model file cannot be loaded by onnxruntime: {error}") from None
    inputs = [node.name for node in session.get_inputs()]
    if inputs != manifest.feeds:
        raise BundleError(f"the model's inputs {inputs} do not match the manifest's feeds {manifest.feeds}")
    outputs = [node.name for node in session.get_outputs()]
    if outputs != manifest.outputs:
        raise BundleError(f"the model's outputs {outputs} do not match the manifest's outputs {manifest.outputs}")
    return Bundle(manifest, session, onnxruntime.RunOptions())
