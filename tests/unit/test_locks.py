"""Each lock file must agree with its .in file, offline: a requirement added, removed or re-bounded
without running `make lock` fails here."""

import re
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.helpers import REPO

LOCKS = {
    "requirements.txt": "requirements.in",
    "requirements-dev.txt": "requirements-dev.in",
    "requirements-serve.txt": "requirements-serve.in",
    "requirements-uv.txt": "requirements-uv.in",
    "requirements-server.txt": "requirements-server.in",
    "requirements-s3.txt": "requirements-s3.in",
    "requirements-dask.txt": "requirements-dask.in",
}
# An example's packages beyond the template's (`make use-example` puts them at the top level), compiled there.
MODEL_LOCKS = {
    str(lock.relative_to(REPO)): str(lock.with_suffix(".in").relative_to(REPO))
    for lock in sorted(REPO.glob("examples/*/requirements-model.txt"))
}
LOCKS.update(MODEL_LOCKS)
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")


def read_in(name: str) -> list[Requirement]:
    lines = (line.split("#", 1)[0].strip() for line in (REPO / name).read_text().splitlines())
    return [Requirement(line) for line in lines if line and not line.startswith("-")]


def read_lock(name: str) -> dict[str, dict]:
    """name -> {"version", "hashes", "via"} for every pin of a pip-compile output."""
    pins: dict[str, dict] = {}
    current = None
    for line in (REPO / name).read_text().splitlines():
        if match := PIN.match(line):
            current = pins[canonicalize_name(match[1])] = {"version": match[2], "hashes": 0, "via": set()}
        elif current is not None and "--hash=sha256:" in line:
            current["hashes"] += 1
        elif current is not None and (via := re.search(r"-r (\S+\.in)", line)):
            current["via"].add(via[1])
    return pins


@pytest.mark.parametrize(("lock", "source"), LOCKS.items())
def test_every_requirement_is_pinned_within_its_bounds(lock, source):
    pins = read_lock(lock)
    for requirement in read_in(source):
        pin = pins.get(canonicalize_name(requirement.name))
        assert pin is not None, f"{requirement.name} is in {source} but not in {lock}: run `make lock`"
        assert requirement.specifier.contains(pin["version"], prereleases=True), (
            f"{lock} pins {requirement.name}=={pin['version']}, outside {source}'s '{requirement.specifier}': "
            "run `make lock`"
        )


@pytest.mark.parametrize(("lock", "source"), LOCKS.items())
def test_nothing_is_locked_for_a_requirement_that_was_removed(lock, source):
    wanted = {canonicalize_name(r.name) for r in read_in(source)}
    for name, pin in read_lock(lock).items():
        if Path(source).name in pin["via"]:
            assert name in wanted, (
                f"{lock} still pins {name} for {source}, which no longer asks for it: run `make lock`"
            )


@pytest.mark.parametrize("lock", LOCKS)
def test_every_pin_carries_hashes(lock):
    text = (REPO / lock).read_text()
    assert "--generate-hashes" in text
    unhashed = [name for name, pin in read_lock(lock).items() if pin["hashes"] == 0]
    assert not unhashed, f"{lock} has pins without hashes: {unhashed}"


@pytest.mark.parametrize(
    "lock", ["requirements-dev.txt", "requirements-serve.txt", "requirements-server.txt", *MODEL_LOCKS]
)
def test_layered_locks_agree_with_the_runtime_lock(lock):
    runtime = read_lock("requirements.txt")
    disagreements = {
        name: (pin["version"], runtime[name]["version"])
        for name, pin in read_lock(lock).items()
        if name in runtime and pin["version"] != runtime[name]["version"]
    }
    assert not disagreements, f"{lock} disagrees with requirements.txt: {disagreements}"


def test_the_lock_parser_sees_what_pip_compile_wrote():
    pins = read_lock("requirements.txt")
    assert len(pins) > 100
    assert "requirements.in" in pins["mlflow"]["via"]
    assert pins["mlflow"]["hashes"] >= 1
