import yaml

from mlproject.modules import closure, imported_names
from tests.helpers import REPO


def stages() -> dict:
    return yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]


def stage_module(stage: dict) -> str:
    """`... python -m mlproject.runner train` runs the module mlproject.train."""
    runner, name = stage["cmd"].split(" -m ")[1].split()
    assert runner == "mlproject.runner", stage["cmd"]
    return f"mlproject.{name}"


def test_every_stage_depends_on_exactly_the_project_files_it_imports():
    for name, stage in stages().items():
        module = stage_module(stage)
        declared = {dep for dep in stage["deps"] if dep.startswith("src/")}
        expected = {str(path) for path in closure(module)}
        assert declared == expected, (
            f"dvc.yaml, stage {name}: list {sorted(expected - declared)}, drop {sorted(declared - expected)}"
        )


def test_no_stage_depends_on_another_stages_module():
    modules = {stage_module(stage) for stage in stages().values()}
    for module in modules:
        assert not (imported_names(REPO / "src" / f"{module.replace('.', '/')}.py") & (modules - {module})), module


def test_the_closure_follows_imports_inside_functions_too(tmp_path):
    package = tmp_path / "mlproject"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("def f():\n    from mlproject import b\n")
    (package / "b.py").write_text("import mlproject.c\n")
    (package / "c.py").write_text("import os\n")
    (package / "unused.py").write_text("")
    assert [str(p) for p in closure("mlproject.a", tmp_path)] == [
        f"{tmp_path.name}/mlproject/__init__.py",
        f"{tmp_path.name}/mlproject/a.py",
        f"{tmp_path.name}/mlproject/b.py",
        f"{tmp_path.name}/mlproject/c.py",
    ]
