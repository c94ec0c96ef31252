"""What every Triton kernel module shares: the import guard, the device rules, the autotune bypass
and the allocator with its NaN-fill test switch.

* ``triton`` is imported here, once, with an ``ImportError`` naming the extra
  (``pip install fastweights[triton]``); nothing outside ``fastweights.ops.triton`` imports it.
* ``interpreting()``: ``TRITON_INTERPRET=1`` — the kernels then run on CPU tensors through
  Triton's interpreter (tests, CI). Triton reads the variable when a kernel is *decorated*, so it
  must be set before the kernel modules are imported (``tests/ops/triton_kernels/conftest.py``
  does that).
* ``autotune(configs, key, restore_value)``: ``triton.autotune`` where a GPU driver is present
  (``restore_value`` names outputs a kernel reads and updates in place: tuning runs it several
  times); without one (the interpreter) autotuning cannot time anything, so the first config is
  applied as fixed meta-parameters (``triton.heuristics``) and ``num_warps``/``num_stages`` do
  not apply. ``FASTWEIGHTS_TRITON_AUTOTUNE=0`` (read when the kernels are imported) gives every
  kernel its first config on a GPU too: one compilation per kernel and no timing runs (quick
  tests, reproducible launches).
* ``empty(...)``: every fresh kernel buffer comes from here. Under ``nan_filled()`` (or with
  ``FASTWEIGHTS_NAN_FILL=1`` in the environment) floating buffers are filled with NaN instead of
  left uninitialised, so a kernel that reads memory nobody wrote shows NaN in the tests.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor

try:
    import triton
    import triton.language as tl
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError(
        "the Triton kernels (impl='triton_chunk', 'triton_recurrent') need the triton package: "
        "pip install fastweights[triton]"
    ) from error

__all__ = [
    "KERNEL_DTYPES",
    "autotune",
    "check_kernel_inputs",
    "empty",
    "gpu_driver",
    "interpreting",
    "nan_filled",
    "next_power_of_2",
    "tl",
    "triton",
    "tuning",
]

# dtypes the kernels take as inputs; accumulation and state are float32 whatever the input dtype
KERNEL_DTYPES = (torch.float32, torch.float16, torch.bfloat16)

_nan_fill = os.environ.get("FASTWEIGHTS_NAN_FILL", "") == "1"


def tuning() -> bool:
    """Whether kernels are autotuned on a GPU: ``FASTWEIGHTS_TRITON_AUTOTUNE`` unset or ``1``."""
    value = os.environ.get("FASTWEIGHTS_TRITON_AUTOTUNE", "1")
    if value not in ("0", "1"):
        raise ValueError(f"FASTWEIGHTS_TRITON_AUTOTUNE must be 0 or 1, got {value!r}")
    return value == "1"


def interpreting() -> bool:
    """True when Triton runs kernels through its CPU interpreter (``TRITON_INTERPRET=1``)."""
    return os.environ.get("TRITON_INTERPRET", "") == "1"


def gpu_driver() -> bool:
    """True when kernels compile for a real GPU (a CUDA device and not the interpreter)."""
    return not interpreting() and torch.cuda.is_available()


def autotune(
    configs: Sequence[triton.Config], key: list[str], restore_value: list[str] | None = None
) -> Callable[[Any], Any]:
    """``triton.autotune`` on a GPU (over the first config alone when not ``tuning()``); the first
    config as fixed meta-parameters elsewhere."""
    if gpu_driver():
        tried = list(configs) if tuning() else [configs[0]]  # one config: triton times nothing
        return triton.autotune(configs=tried, key=key, restore_value=restore_value)
    fixed = dict(configs[0].kwargs)
    return triton.heuristics({name: (lambda _args, v=value: v) for name, value in fixed.items()})


@contextmanager
def nan_filled(enabled: bool = True) -> Iterator[None]:
    """Within the block, fresh floating kernel buffers are NaN-filled (a test-time switch)."""
    global _nan_fill
    previous, _nan_fill = _nan_fill, enabled
    try:
        yield
    finally:
        _nan_fill = previous


def empty(*shape: int, dtype: torch.dtype, device: torch.device | str) -> Tensor:
    """A fresh kernel buffer: uninitialised, or NaN-filled under ``nan_filled()``."""
    if _nan_fill and dtype.is_floating_point:
        return torch.full(shape, float("nan"), dtype=dtype, device=device)
    return torch.empty(shape, dtype=dtype, device=device)


def next_power_of_2(n: int) -> int:
    """The power-of-two block covering ``n``, at least 16 (the smallest ``tl.dot`` operand)."""
    return max(16, triton.next_power_of_2(n))


def check_kernel_inputs(rule: str, *tensors: Tensor) -> None:
    """Kernel inputs: one of ``KERNEL_DTYPES``, on CUDA (on CPU only under the interpreter)."""
    for x in tensors:
        if x.dtype not in KERNEL_DTYPES:
            names = ", ".join(str(d) for d in KERNEL_DTYPES)
            raise TypeError(
                f"{rule}: the Triton kernels take {names} inputs, got {x.dtype} "
                "(use impl='recurrent' or 'chunk' for float64)"
            )
    device = tensors[0].device
    if interpreting():
        if device.type != "cpu":
            raise ValueError(
                f"{rule}: under TRITON_INTERPRET=1 the kernels take CPU tensors, got {device}"
            )
    elif device.type != "cuda":
        raise ValueError(
            f"{rule}: a Triton form needs CUDA tensors (or TRITON_INTERPRET=1 for CPU tensors), "
            f"got {device}"
        )
