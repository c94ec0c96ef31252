"""No folder or module under ``tests/`` takes the name of a package.

There is no ``__init__.py`` under ``tests/``, so pytest's default import mode puts the folder of
every test module and conftest on ``sys.path``; whatever sits beside them becomes importable by
its bare name. A folder named like a package that is not installed is then found as a namespace
package: ``tests/ops/triton/`` did that on a lean install (no triton), torch took it for triton,
and its first ``torch._dynamo`` import (any optimizer's constructor) failed with ``module 'triton'
has no attribute 'language'``. The names checked are the standard library's, every installed
distribution's, and every top-level module that the package or the tests import, installed or not
(the optional extras included).
"""

from __future__ import annotations

import ast
import importlib.metadata
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"


def _exposed() -> dict[str, Path]:
    """Bare names that the test folders on ``sys.path`` offer: their subfolders and modules."""
    names: dict[str, Path] = {}
    for folder in [TESTS, *(p for p in TESTS.rglob("*") if p.is_dir())]:
        if not any(folder.glob("test_*.py")) and not (folder / "conftest.py").is_file():
            continue  # pytest never puts this folder on sys.path
        for child in folder.iterdir():
            if child.is_dir() and child.name != "__pycache__":
                names[child.name] = child
            elif child.suffix == ".py":
                names[child.stem] = child
    return names


def _imported_top_levels(paths: list[Path]) -> set[str]:
    """Top-level modules named by an absolute import in ``paths``."""
    found: set[str] = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return found


def test_no_test_folder_or_module_shadows_a_package() -> None:
    exposed = _exposed()
    own = {name for name, path in exposed.items() if path.suffix == ".py"}  # e.g. error_budget
    packages = (
        set(sys.stdlib_module_names)
        | set(importlib.metadata.packages_distributions())
        | {"triton", "matplotlib", "networkx", "PIL"}  # the extras, installed or not
        | _imported_top_levels(list((ROOT / "fastweights").rglob("*.py")))
        | (_imported_top_levels(list(TESTS.rglob("*.py"))) - own)
    )
    shadowing = {n: str(p.relative_to(ROOT)) for n, p in exposed.items() if n in packages}
    assert not shadowing, f"rename these: they shadow packages on sys.path: {shadowing}"
