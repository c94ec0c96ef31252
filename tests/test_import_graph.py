"""The house's import graph (``docs/architecture.md``): no import runs upward, no circles.

Every ``import`` in ``fastweights/`` counts, lazy ones inside functions too, read from the source
with ``ast`` (nothing is imported). An arrow goes to the most specific module it names. The floors,
from the ground up, are ``FLOORS``: a module may import its own floor or a lower one, and within a
floor no chain of imports may come back to where it started.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "fastweights"

# Ground floor first. "fastweights" is the package's face: ``__version__`` and nothing imported.
# "fastweights.ops:contracts" are the files at the top of ops/ (rule.py, cell.py, checks.py,
# feature_maps.py); "fastweights.ops" alone is ops' face (its __init__: the registries).
FLOORS = (
    "fastweights",
    "fastweights.ops:contracts",
    "fastweights.ops.triton",  # never imports ops/rules or ops/cells
    "fastweights.ops.rules",
    "fastweights.ops.cells",
    "fastweights.ops",
    "fastweights.tasks",  # never imports nn or models
    "fastweights.nn",
    "fastweights.models",
    "fastweights.interop",  # fla's layers (nn) and whole checkpoints (models) as ours
    "fastweights.hf",  # Hugging Face classes over models (and tasks' text, for lm-eval)
    "fastweights.train",
    "fastweights.analysis",
    "fastweights.bench",
    "fastweights.commands",
    "fastweights.cli",
)
CONTRACTS = {f"fastweights.ops.{p.stem}" for p in (PACKAGE / "ops").glob("*.py")} - {
    "fastweights.ops.__init__"
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def all_modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imports(path: Path, name: str, modules: Iterable[str]) -> set[str]:
    """The package's modules that the file at ``path`` (module ``name``) imports."""
    known = set(modules)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from .x import y
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            candidates = [f"{base}.{alias.name}" for alias in node.names]  # or base itself
        else:
            continue
        for candidate in candidates:
            while candidate and candidate not in known:
                candidate = candidate.rpartition(".")[0]
            if candidate:
                targets.add(candidate)
    targets.discard(name)
    return targets


def floor(module: str) -> int:
    if module in CONTRACTS:
        return FLOORS.index("fastweights.ops:contracts")
    best = max((f for f in FLOORS if module == f or module.startswith(f + ".")), key=len)
    return FLOORS.index(best)


def upward(edges: dict[str, set[str]]) -> list[tuple[str, str]]:
    return sorted((a, b) for a, targets in edges.items() for b in targets if floor(b) > floor(a))


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def package_edges() -> dict[str, set[str]]:
    modules = all_modules()
    return {name: imports(path, name, modules) for name, path in modules.items()}


def test_every_module_has_a_floor() -> None:
    for name in all_modules():
        assert floor(name) >= 0, name


def test_no_import_runs_upward() -> None:
    assert upward(package_edges()) == []


def test_no_import_circles() -> None:
    assert circles(package_edges()) == []


def test_the_checks_see_an_upward_arrow_and_a_circle() -> None:
    edges = {
        "fastweights.ops.rules.delta": {"fastweights.nn.short_conv"},
        "fastweights.nn.short_conv": {"fastweights.nn.cell_layer"},
        "fastweights.nn.cell_layer": {"fastweights.nn.short_conv"},
    }
    assert upward(edges) == [("fastweights.ops.rules.delta", "fastweights.nn.short_conv")]
    assert circles(edges) == [["fastweights.nn.cell_layer", "fastweights.nn.short_conv"]]


def test_imports_are_read_lazily_and_relatively(tmp_path: Path) -> None:
    source = "def f():\n    from fastweights.ops.rules import delta\nfrom . import chunking\n"
    fake = tmp_path / "sum.py"
    fake.write_text(source)
    found = imports(fake, "fastweights.ops.rules.sum", all_modules())
    assert found == {"fastweights.ops.rules.delta", "fastweights.ops.rules.chunking"}
