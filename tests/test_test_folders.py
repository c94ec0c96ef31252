"""No folder of the test suite shadows a package.

The tests have no ``__init__.py``, so pytest puts the folder of every test file and conftest on
``sys.path``, and each folder below one of those is importable under its own name as a namespace
package. A real package always wins over a namespace, so the shadow shows only where the package
is absent: on a lean install (``pip install -e .[dev]``). There ``tests/ops/triton/`` (now
``tests/ops/triton_kernels/``) made ``importlib.util.find_spec("triton")`` succeed without triton;
torch's ``has_triton_package()`` believed it, and ``import torch._dynamo`` (which the first
``torch.optim`` optimizer of a process does) failed on ``triton.language``, failing
``test_srnet_learns_end_to_end`` and whatever else came first.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re
from pathlib import Path

TESTS = Path(__file__).resolve().parent
# Imported only when present (by this package or by torch), besides the declared requirements.
PROBED = {"triton", "matplotlib", "networkx", "PIL", "fla", "sympy", "numpy", "torch"}


def _package_names() -> set[str]:
    """Import names of the requirements (extras too), the probed ones and all that is installed."""
    requires = importlib.metadata.metadata("fastweights").get_all("Requires-Dist") or []
    names = {re.match(r"[A-Za-z0-9_.-]+", r).group().replace("-", "_") for r in requires}
    names |= PROBED | set(importlib.metadata.packages_distributions())
    return {n.lower() for n in names}


def _test_folders() -> list[Path]:
    return [p for p in TESTS.rglob("*") if p.is_dir() and p.name != "__pycache__"]


def test_no_test_folder_is_named_like_a_package() -> None:
    packages = _package_names()
    clashes = [str(p.relative_to(TESTS)) for p in _test_folders() if p.name.lower() in packages]
    assert not clashes, f"test folders named like a package (rename them): {clashes}"


def test_absent_packages_are_not_found_in_the_tests() -> None:
    """What ``find_spec`` finds for each probed name is the real package, or nothing."""
    for name in sorted(PROBED):
        spec = importlib.util.find_spec(name)
        if spec is None:
            continue
        where = [spec.origin] if spec.origin else list(spec.submodule_search_locations or [])
        inside = [w for w in where if Path(w).resolve().is_relative_to(TESTS)]
        assert spec.origin is not None and not inside, f"{name!r} resolves into the tests: {where}"


def test_no_two_test_files_share_a_name() -> None:
    """Without ``__init__.py`` pytest imports each test file by its bare name: two of one name
    stop collection ("import file mismatch"), as tests/hf/test_model.py did to tests/models/."""
    seen: dict[str, list[str]] = {}
    for path in TESTS.rglob("*.py"):
        if path.name.startswith("test_"):
            seen.setdefault(path.name, []).append(str(path.relative_to(TESTS)))
    shared = {name: paths for name, paths in seen.items() if len(paths) > 1}
    assert not shared, f"test files of one name (rename them): {shared}"
