"""Which of the project's modules a module imports, directly or through others: read from the source.

DVC must know every file a stage's result depends on, and the registered model must carry the code it
needs to load. Both come from here, so neither is a list kept in step by hand: `dvc.yaml`'s lists are
checked against it by a test, and `register` logs exactly the modules the feature code needs.
"""

from __future__ import annotations

import ast
from pathlib import Path

SOURCE_ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("mlproject", "mlserve")


def imported_names(path: Path) -> set[str]:
    """The project modules a file imports anywhere in it (functions included), as dotted names."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in names if name.split(".")[0] in PACKAGES}


def module_file(name: str, root: Path = SOURCE_ROOT) -> Path | None:
    """The file of a dotted module name, or None when the name is not a module (a function, a class)."""
    base = root.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def closure(name: str, root: Path = SOURCE_ROOT) -> list[Path]:
    """The module's file and every project file it imports, directly or not, relative to `root`'s parent."""
    seen: dict[Path, None] = {}
    pending = [name]
    while pending:
        path = module_file(pending.pop(), root)
        if path is None or path in seen:
            continue
        seen[path] = None
        pending.extend(imported_names(path))
    return sorted(path.relative_to(root.parent) for path in seen)
