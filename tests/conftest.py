"""Shared fixtures: the project's data in memory, and scratch copies of the project for end-to-end runs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from mlproject import config, export, files
from mlproject.dataset import SCHEMA, load_raw
from mlproject.prepare import split
from mlproject.schema import clean
from mlproject.train import fit

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent


@pytest.fixture(scope="session")
def penguins():
    return load_raw()


@pytest.fixture(scope="session")
def splits(penguins):
    return split(clean(penguins, SCHEMA), SCHEMA, test_size=0.2, seed=42)


def project_env(**overrides: str) -> dict[str, str]:
    """The environment a user has after `source .venv/bin/activate`, with no team tracking server."""
    env = {k: v for k, v in os.environ.items() if k != config.TRACKING_URI_VARIABLE}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["GIT_AUTHOR_NAME"] = env["GIT_COMMITTER_NAME"] = "test"
    env["GIT_AUTHOR_EMAIL"] = env["GIT_COMMITTER_EMAIL"] = "test@localhost"
    env.update(overrides)
    return env


@pytest.fixture(scope="session")
def fitted(splits):
    train, _ = splits
    return fit(train, config.Params())


def write_bundle(directory: Path, fitted, test, group: bool = True) -> Path:
    """What the export stage writes (model.onnx, manifest.json), for a model fitted in the tests."""
    onnx_model, feeds = export.convert(fitted, SCHEMA, group=group)
    checked = export.parity(fitted, onnx_model, feeds, test, SCHEMA)
    version = SimpleNamespace(name="penguins-classifier", version="7", run_id="run-7")
    files.write_bytes(directory / export.MODEL_FILENAME, onnx_model)
    files.write_json(
        directory / "manifest.json", export.manifest(version, "abc123", fitted, onnx_model, feeds, checked, SCHEMA)
    )
    return directory


@pytest.fixture(scope="session")
def bundle_dir(tmp_path_factory, fitted, splits):
    return write_bundle(tmp_path_factory.mktemp("bundle"), fitted, splits[1])


@dataclass
class Project:
    """A scratch copy of the project (its git-tracked files, committed in a new repository)."""

    root: Path

    def run(self, *command: str, check: bool = True, timeout: float = 600, **env: str) -> subprocess.CompletedProcess:
        result = subprocess.run(
            command, cwd=self.root, env=project_env(**env), capture_output=True, text=True, timeout=timeout
        )
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        return result

    def lock(self) -> dict:
        return yaml.safe_load((self.root / "dvc.lock").read_text())

    def out_md5s(self, stages: tuple[str, ...] = ("load_data", "prepare", "train", "evaluate")) -> dict[str, str]:
        lock = self.lock()["stages"]
        return {out["path"]: out["md5"] for stage in stages for out in lock[stage]["outs"]}

    def set_param(self, dotted: str, value: object) -> None:
        path = self.root / "params.yaml"
        document = yaml.safe_load(path.read_text())
        *parents, leaf = dotted.split(".")
        node = document
        for key in parents:
            node = node[key]
        node[leaf] = value
        path.write_text(yaml.safe_dump(document, sort_keys=False))

    def snapshot(self, *relative: str) -> dict[str, bytes]:
        return {name: (self.root / name).read_bytes() for name in relative}


def copy_project(destination: Path) -> Project:
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, text=True, check=True)
    for name in filter(None, tracked.stdout.split("\0")):
        source = REPO / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    project = Project(destination)
    project.run("git", "init", "-q", "-b", "main")
    project.run("git", "add", "-A")
    project.run("git", "commit", "-q", "-m", "scratch copy")
    return project


@pytest.fixture(scope="session")
def reproduced(tmp_path_factory) -> Project:
    """One copy on which `dvc repro` has run once; tests that change it must work on their own copy."""
    project = copy_project(tmp_path_factory.mktemp("reproduced"))
    project.run("dvc", "repro")
    return project


@pytest.fixture
def scratch(reproduced, tmp_path) -> Project:
    """A private copy of the reproduced project (outputs, DVC cache and MLflow store included)."""
    target = tmp_path / "project"
    shutil.copytree(reproduced.root, target, symlinks=True)
    return Project(target)
