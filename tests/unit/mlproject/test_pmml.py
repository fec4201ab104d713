"""The PMML export: Java found or named as missing, conversion on a real Java runtime, the converter's failures
in one line, no telemetry leaving the machine, and the same document for the same model."""

import hashlib
import os
import re
import socket
import stat
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.pipeline import Pipeline

from mlproject import config, pmml
from mlproject.inputs import model_input
from tests.helpers import REPO, fit_reference, penguins_example

PENGUINS = penguins_example().SCHEMA
java = pytest.mark.slow  # each starts a Java runtime: seconds


@pytest.fixture(scope="module")
def penguins_pmml(splits):
    model = fit_reference(splits[0], config.Params(), PENGUINS)
    return model, pmml.to_pmml(model, PENGUINS)


def fake_java(folder, version_line: str) -> str:
    """A JAVA_HOME whose bin/java prints `version_line` for `java -version`, as Java does (on stderr)."""
    script = folder / "bin" / "java"
    script.parent.mkdir(parents=True)
    script.write_text(f"#!/bin/sh\necho '{version_line}' >&2\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(folder)


def test_without_java_the_error_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(pmml.PmmlError) as caught:
        pmml.java_home()
    message = str(caught.value)
    assert "no java on PATH" in message and "apt-get install default-jre-headless" in message
    assert "export.pmml: false" in message and "\n" not in message


def test_a_java_home_without_java_is_named(monkeypatch, tmp_path):
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    with pytest.raises(pmml.PmmlError, match=rf"JAVA_HOME={tmp_path} has no bin/java"):
        pmml.java_home()


@pytest.mark.parametrize(
    ("said", "major"),
    [('java version "1.8.0_392"', 8), ('openjdk version "10.0.2" 2018-07-17', 10), ("no version here", "unknown")],
)
def test_a_java_older_than_11_is_refused_with_its_version(monkeypatch, tmp_path, said, major):
    monkeypatch.setenv("JAVA_HOME", fake_java(tmp_path, said))
    with pytest.raises(pmml.PmmlError, match=rf"needs Java 11 or newer, .*bin/java is {major}: install"):
        pmml.java_home()


def test_java_11_and_newer_are_accepted(monkeypatch, tmp_path):
    monkeypatch.setenv("JAVA_HOME", fake_java(tmp_path, 'openjdk version "21.0.4" 2024-07-16'))
    assert pmml.java_home() == tmp_path


@java
def test_the_penguins_pipeline_converts_under_the_schemas_names_without_a_time_stamp(penguins_pmml):
    _, document = penguins_pmml
    assert document.startswith(b'<?xml version="1.0" encoding="UTF-8"')
    assert b"<Timestamp>" not in document and b"<Header>" in document
    for name in [PENGUINS.label, *PENGUINS.feature_names]:
        assert f'<DataField name="{name}"'.encode() in document


def test_without_java_home_the_installation_of_the_java_on_path_is_used(monkeypatch, tmp_path):
    """/usr/bin/java is a link into the installation: the converter and the evaluator get that one."""
    home = tmp_path / "jvm" / "java-21"
    fake_java(home, 'openjdk version "21.0.4" 2024-07-16')
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "java").symlink_to(home / "bin" / "java")
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    assert pmml.java_home() == home


@java
def test_the_same_model_gives_the_same_document(penguins_pmml):
    model, document = penguins_pmml
    again = pmml.to_pmml(model, PENGUINS)
    assert hashlib.sha256(again).hexdigest() == hashlib.sha256(document).hexdigest()


@java
def test_the_documents_answers_are_scikit_learns(penguins_pmml, splits):
    model, document = penguins_pmml
    features = model_input(splits[1], PENGUINS)
    labels, probabilities = pmml.evaluate(document, features, PENGUINS, list(model.classes_))
    assert labels.tolist() == model.predict(features).tolist()
    np.testing.assert_allclose(probabilities, model.predict_proba(features), atol=1e-12)


@java
def test_rows_the_document_cannot_score_fail_the_check_naming_the_first(penguins_pmml, splits):
    """JPMML answers such a row with an error and no values, which must not pass for agreement."""
    model, document = penguins_pmml
    features = model_input(splits[1], PENGUINS).astype({"bill_length_mm": object})
    features.loc[features.index[[3, 5]], "bill_length_mm"] = "Atlantis"
    with pytest.raises(pmml.PmmlError) as caught:
        pmml.evaluate(document, features, PENGUINS, list(model.classes_))
    message = str(caught.value)
    assert message.startswith(f"the PMML model cannot score 2 of {len(features)} test rows (first: row 4, ")
    assert "Atlantis" in message and "\n" not in message


class Halve(TransformerMixin, BaseEstimator):
    """A transformer of the user's own that sklearn2pmml has no converter for."""

    def fit(self, X, y=None):
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X):
        return X / 2


def with_halve(splits) -> Pipeline:
    model = fit_reference(splits[0], config.Params(), PENGUINS)
    return Pipeline([*model.steps[:-1], ("halve", Halve().fit(np.zeros((1, 1)))), model.steps[-1]])


@java
def test_a_step_the_converter_cannot_handle_fails_in_one_line_naming_it(splits):
    with pytest.raises(pmml.PmmlError) as caught:
        pmml.to_pmml(with_halve(splits), PENGUINS)
    message = str(caught.value)
    assert message.startswith("sklearn2pmml cannot convert the model: ")
    assert f"{__name__}.Halve" in message and "is not a supported" in message and "\n" not in message


@java
def test_a_failed_conversion_sends_its_report_to_the_proxy_not_out(splits, monkeypatch):
    """The converter posts a failure report to its authors' service; the export's Java options send it to a
    proxy on 127.0.0.1. Here that proxy is a socket of the test's own, which sees the request arrive."""
    seen: list[bytes] = []
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(60)

        def accept() -> None:
            connection, _ = server.accept()
            with connection:
                seen.append(connection.recv(4096))

        listener = threading.Thread(target=accept, daemon=True)
        listener.start()
        monkeypatch.setattr(pmml, "NO_TELEMETRY", pmml.proxy_options(server.getsockname()[1]))
        with pytest.raises(pmml.PmmlError, match="Halve"):
            pmml.to_pmml(with_halve(splits), PENGUINS)
        listener.join(timeout=60)
    assert seen and seen[0].startswith(b"CONNECT ") and b":443 HTTP/1.1" in seen[0]


def test_the_default_proxy_is_a_local_port_nothing_listens_on():
    assert "-Dhttps.proxyHost=127.0.0.1" in pmml.NO_TELEMETRY and "-Dhttps.proxyPort=9" in pmml.NO_TELEMETRY
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", 9), timeout=5):
        pass


def test_the_converters_reason_is_the_java_exceptions_message():
    printed = os.linesep.join([
        "SEVERE: Failed to convert PKL to PMML",
        "org.jpmml.sklearn.SkLearnException: The object (Python class a.B) is not a supported Transformer",
        "Caused by", "java.lang.ClassCastException: Cannot cast",
    ])  # fmt: skip
    assert pmml.converter_error(printed) == "The object (Python class a.B) is not a supported Transformer"
    assert pmml.converter_error("Standard output is empty\nsomething odd\n") == "something odd"
    assert pmml.converter_error("") == "it printed nothing"
    expired = "com.sklearn2pmml.SkLearn2PMMLException: The SkLearn2PMML package has expired"
    assert pmml.converter_error(expired).endswith(
        "has expired: update sklearn2pmml in requirements.in, then `make lock`"
    )


@java
def test_the_readmes_java_program_scores_the_document_as_scikit_learn_does(penguins_pmml, splits, tmp_path):
    """The README's ```java program, run by the JDK's source launcher on the jars jpmml-evaluator ships."""
    import jpmml_evaluator

    model, document = penguins_pmml
    programs = re.findall(r"```java\n(.*?)```", (REPO / "README.md").read_text(), re.DOTALL)
    assert len(programs) == 1
    (tmp_path / "Score.java").write_text(programs[0])
    (tmp_path / "model.pmml").write_bytes(document)
    features = model_input(splits[1], PENGUINS)
    jars = Path(jpmml_evaluator.__file__).parent / "dependencies"
    command = ["java", "-cp", f"{jars}/*", str(tmp_path / "Score.java"), str(tmp_path / "model.pmml")]
    done = subprocess.run(command, input=features.to_csv(index=False), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    printed = done.stdout.splitlines()
    assert [re.match(r"\{species=(\w+), ", line).group(1) for line in printed] == model.predict(features).tolist()
    probabilities = [[float(p) for p in re.findall(r"probability\(\w+\)=([\d.E-]+)", line)] for line in printed]
    np.testing.assert_allclose(probabilities, model.predict_proba(features), atol=1e-12)
