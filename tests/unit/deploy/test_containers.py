"""`make image`'s names and errors (the builds themselves: tests/e2e/test_container.py)."""

import pytest

from scripts import containers


@pytest.mark.parametrize(
    ("name", "engine", "reference"),
    [
        ("myapi", "podman", "localhost/myapi:latest"),
        ("myapi:1.0", "podman", "localhost/myapi:1.0"),
        ("team/myapi", "podman", "localhost/team/myapi:latest"),
        ("localhost/model-api:latest", "podman", "localhost/model-api:latest"),
        ("registry.example:5000/team/myapi", "podman", "registry.example:5000/team/myapi:latest"),
        ("myapi", "docker", "myapi:latest"),
    ],
)
def test_a_name_without_a_tag_is_latest_and_podman_builds_under_localhost(name, engine, reference):
    assert containers.image_reference(name, engine) == reference


@pytest.mark.parametrize("name", ["MyApi", "my api", "myapi:", ":tag", "myapi:bad/tag"])
def test_a_name_that_is_not_an_image_name_is_refused_in_one_line(name):
    with pytest.raises(ValueError, match="is not an image name") as raised:
        containers.image_reference(name, "podman")
    assert "\n" not in str(raised.value)


def test_an_engine_failure_is_one_line_naming_the_command_and_the_engines_last_word(monkeypatch, capsys):
    def fails(*args, **kwargs):
        raise RuntimeError("podman load --input x.tar failed (125):\nGetting image source\n\nError: no space left\n")

    monkeypatch.setattr(containers, "find_engine", lambda workdir: containers.Engine("podman", {}))
    monkeypatch.setattr(containers, "build", fails)
    assert containers.main(["myapi"]) == 1
    said = capsys.readouterr().err
    assert said == "make image: podman load --input x.tar failed (125): Error: no space left\n"


def test_a_bad_name_stops_make_image_before_any_build(monkeypatch, capsys):
    monkeypatch.setattr(containers, "find_engine", lambda workdir: containers.Engine("podman", {}))
    monkeypatch.setattr(containers, "build", lambda *args, **kwargs: pytest.fail("built"))
    assert containers.main(["My Api"]) == 1
    assert capsys.readouterr().err.startswith("make image: IMAGE='My Api' is not an image name")
