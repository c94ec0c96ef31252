"""Settings and fixtures for the Triton kernel tests (``tests/ops/triton_kernels``).

Without a CUDA device the kernels run through Triton's interpreter: ``TRITON_INTERPRET=1`` is set
here, when pytest imports this file during collection, before any test imports a kernel module
(Triton reads the variable when a kernel is decorated). The test modules import the kernels
inside their tests, never at module level, so the order cannot go wrong; ``kernel_device``
checks it anyway. Without triton installed every test here is skipped with the reason.

Fixtures:

* ``kernel_device``: ``"cuda"`` on a GPU, else ``"cpu"`` (interpreter); skips the test if a kernel
  module was imported before the interpreter was switched on.
* ``nan_fill`` (autouse): every fresh kernel buffer is NaN-filled during the test
  (``fastweights.ops.triton.common.nan_filled``), so reads of unwritten memory show up as NaN.
* ``budget``: the data-derived error budget helper, ``error_budget`` (see that module).
* ``real_shapes``: True on a GPU with ``FASTWEIGHTS_KERNEL_SHAPES=real`` (``scripts/gpu_check.sh``):
  tests then use real sizes (``K = V = 128``, ``T`` in the thousands) instead of tiny ones.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterator
from types import ModuleType

import pytest
import torch

_TRITON_SPEC = importlib.util.find_spec("triton")
# A folder named triton on sys.path is found as a namespace package (no origin): not triton.
HAS_TRITON = _TRITON_SPEC is not None and _TRITON_SPEC.origin is not None
ON_GPU = torch.cuda.is_available() and os.environ.get("TRITON_INTERPRET", "") != "1"
REAL_SHAPES = ON_GPU and os.environ.get("FASTWEIGHTS_KERNEL_SHAPES", "") == "real"
if HAS_TRITON and not ON_GPU:
    os.environ["TRITON_INTERPRET"] = "1"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if HAS_TRITON:
        return
    skip = pytest.mark.skip(reason="triton is not installed (pip install fastweights[triton])")
    here = os.path.dirname(__file__)
    for item in items:
        if str(item.path).startswith(here):
            item.add_marker(skip)


@pytest.fixture
def kernel_device() -> str:
    if not ON_GPU:
        for name, module in list(sys.modules.items()):
            if name.startswith("fastweights.ops.triton.") and _has_compiled_kernel(module):
                pytest.skip(f"{name} was imported before TRITON_INTERPRET=1 was set")
    return "cuda" if ON_GPU else "cpu"


def _has_compiled_kernel(module: ModuleType) -> bool:
    """A kernel in ``module`` compiled for a GPU (a ``JITFunction``, maybe under a wrapper)."""
    from triton.runtime.jit import JITFunction

    for obj in vars(module).values():
        while hasattr(obj, "fn") and not isinstance(obj, JITFunction):
            obj = obj.fn  # autotune / heuristics wrappers
        if isinstance(obj, JITFunction):
            return True
    return False


@pytest.fixture(autouse=True)
def nan_fill() -> Iterator[None]:
    if not HAS_TRITON:
        yield
        return
    from fastweights.ops.triton.common import nan_filled

    with nan_filled():
        yield


@pytest.fixture
def budget() -> ModuleType:
    import error_budget

    return error_budget


@pytest.fixture
def real_shapes() -> bool:
    return REAL_SHAPES
