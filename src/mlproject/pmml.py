"""The optional PMML export (`export.pmml: true`): the champion as a PMML document, for Java consumers.

sklearn2pmml converts the fitted pipeline on a Java runtime, and jpmml-evaluator scores the document for
the export's parity check. Three habits of the converter are handled here:
- it stamps the document with the time of conversion: the stamp is dropped, so one model gives one file;
- it reports a failed conversion, with its environment and stack trace, to its authors' telemetry
  service: Java's proxy is pointed at a closed local port, so nothing leaves the machine;
- it refuses to run a year after its release ("has expired"): update it in requirements.in, `make lock`.
"""

from __future__ import annotations

import contextlib
import copy
import io
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from mlproject.schema import DatasetSchema
from mlproject.stage import StageError

MINIMUM_JAVA = 11
INSTALL_JAVA = (
    f"install a Java runtime, {MINIMUM_JAVA} or newer (Debian and Ubuntu: apt-get install default-jre-headless), "
    "or set export.pmml: false in params.yaml"
)
TIMESTAMP = re.compile(rb"\n\s*<Timestamp>[^<]*</Timestamp>")
JAVA_EXCEPTION = re.compile(r"^(?:[a-z]\w*\.)+\w*(?:Exception|Error): (.+)$", re.MULTILINE)


def proxy_options(port: int) -> list[str]:
    """Java's options that send its HTTP and HTTPS connections through a proxy at 127.0.0.1:`port`."""
    return [f"-D{scheme}.{key}" for scheme in ("http", "https") for key in ("proxyHost=127.0.0.1", f"proxyPort={port}")]


NO_TELEMETRY = proxy_options(9)  # the discard port: nothing listens on it, so a connection is refused at once


class PmmlError(StageError, RuntimeError):
    """No PMML document can be made or trusted; the message says why and what to do."""


def java_home() -> Path:
    """The Java installation, 11 or newer, that both the converter and the evaluator are given: JAVA_HOME,
    or the one whose `java` is on PATH (so the check, the conversion and the parity run one Java)."""
    home = os.environ.get("JAVA_HOME")
    java = str(Path(home, "bin", "java")) if home else shutil.which("java")
    if not java or not Path(java).is_file():
        where = f"JAVA_HOME={home} has no bin/java" if home else "no java on PATH"
        raise PmmlError(f"export.pmml needs Java ({where}): {INSTALL_JAVA}")
    said = subprocess.run([java, "-version"], capture_output=True, text=True, check=False).stderr
    found = re.search(r'version "(\d+)(?:\.(\d+))?', said)
    major = (int(found.group(2) or 0) if found.group(1) == "1" else int(found.group(1))) if found else 0
    if major < MINIMUM_JAVA:
        raise PmmlError(
            f"export.pmml needs Java {MINIMUM_JAVA} or newer, {java} is {major or 'unknown'}: {INSTALL_JAVA}"
        )
    return Path(home) if home else Path(java).resolve().parent.parent  # /usr/bin/java -> /usr/lib/jvm/<jdk>/bin/java


def converter_error(output: str) -> str:
    """The reason in what the converter printed: the message of the Java exception it names first."""
    found = JAVA_EXCEPTION.search(output)
    if found and "has expired" in found.group(1):
        return f"{found.group(1).strip()}: update sklearn2pmml in requirements.in, then `make lock`"
    if found:
        return found.group(1).strip()
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    return lines[-1] if lines else "it printed nothing"


def to_pmml(model: Pipeline, schema: DatasetSchema) -> bytes:
    """The fitted pipeline as PMML, its fields under the schema's names; PmmlError naming what it cannot convert."""
    home = java_home()
    from sklearn2pmml import make_pmml_pipeline, sklearn2pmml

    # the converter marks the objects it is given: a copy keeps the champion as it was loaded
    pipeline = make_pmml_pipeline(copy.deepcopy(model), schema.feature_names, [schema.label])
    with tempfile.TemporaryDirectory(prefix="pmml-") as folder, contextlib.redirect_stdout(io.StringIO()) as said:
        path = Path(folder, "model.pmml")
        try:
            sklearn2pmml(pipeline, str(path), java_home=str(home), java_opts=NO_TELEMETRY)
        except RuntimeError:
            raise PmmlError(f"sklearn2pmml cannot convert the model: {converter_error(said.getvalue())}") from None
        return TIMESTAMP.sub(b"", path.read_bytes(), count=1)


def evaluate(document: bytes, features: pd.DataFrame, schema: DatasetSchema, classes: list) -> list[np.ndarray]:
    """The PMML model's outputs on the model's input columns, as ONNX's: [labels, probabilities] or [predictions]."""
    os.environ["JAVA_HOME"] = str(java_home())  # the JVM JPype starts in this process (once) is JAVA_HOME's
    from jpmml_evaluator import make_evaluator

    results = make_evaluator(document).verify().evaluateAll(features)
    errors = results["errors"].to_numpy() if "errors" in results else np.full(len(results), None)
    if failed := np.flatnonzero(pd.notna(errors)).tolist():
        raise PmmlError(
            f"the PMML model cannot score {len(failed)} of {len(features)} test rows "
            f"(first: row {failed[0] + 1}, {str(errors[failed[0]]).strip().splitlines()[0]})"
        )
    if schema.task == "regression":
        return [results[schema.label].to_numpy(dtype=np.float64)]
    columns = [f"probability({label})" for label in classes]
    if not set(columns) <= set(results.columns):  # a classifier without probabilities: its labels only
        return [results[schema.label].to_numpy()]
    return [results[schema.label].to_numpy(), results[columns].to_numpy(dtype=np.float64)]
