"""Error budgets derived from the data, for every kernel test (``budget`` fixture in conftest).

A kernel's result is compared with the float64 oracle, and the error it may have is not a
hand-tuned tolerance but ``FACTOR ×`` the error that an independent low-precision reference makes
on the same inputs: the PyTorch recurrent form run on the inputs rounded to the kernel's dtype
(float32 compute, output in that dtype) — the error that the dtype itself forces on any
implementation. Per tensor (outputs, final state, every gradient)::

    budget = FACTOR · max|reference − oracle| + FLOOR · eps(dtype) · max|oracle|

``FACTOR = 8``: the kernels round differently from the reference (chunkwise sums, a triangular
inverse, products of operands rounded to the input dtype on a GPU), which costs a small multiple
of its error. Measured on the interpreter (float32, float16; tests' shapes), the ratio kernel
error / reference error was 0.5–3.5 (largest: ``∂β`` of the gated recurrent kernel in float32;
in float16 the output rounding dominates and the ratio is ~1). The floor (``FLOOR = 4`` ulps
of the largest entry) only matters where the reference happens to be exact.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import Tensor

FACTOR = 8.0
FLOOR = 4.0

Results = dict[str, Tensor]


def _cotangents(o: Tensor, state: Tensor, seed: int) -> tuple[Tensor, Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return tuple(
        torch.randn(x.shape, generator=gen, dtype=torch.float64).to(x.device) for x in (o, state)
    )


def oracle(
    fn: Callable[..., tuple[Tensor, Tensor]], inputs: Mapping[str, Tensor], *, seed: int = 0
) -> tuple[Results, tuple[Tensor, Tensor]]:
    """The float64 results of ``fn`` on the unrounded inputs, and the random cotangents
    ``(do, dS)`` (drawn from ``seed``) that define the gradients: those of ``Σ o·do + Σ S·dS``."""
    leaves = {name: x.detach().double().requires_grad_() for name, x in inputs.items()}
    o, state = fn(**leaves)
    do, dS = cotangents = _cotangents(o, state, seed)
    grads = torch.autograd.grad((o * do).sum() + (state * dS).sum(), list(leaves.values()))
    results = {"o": o.detach(), "state": state.detach()}
    results |= {f"d{name}": grad for name, grad in zip(leaves, grads, strict=True)}
    return results, cotangents


def run(
    fn: Callable[..., tuple[Tensor, Tensor]],
    inputs: Mapping[str, Tensor],
    cotangents: tuple[Tensor, Tensor],
    dtype: torch.dtype,
) -> Results:
    """``o``, ``state`` and ``d<name>`` of every input, as float64, of ``fn(**inputs)``.

    The inputs are rounded to ``dtype`` (the initial state stays float32: the state is float32
    in every dtype) and made leaves; the gradients are those of ``Σ o·do + Σ state·dS``.
    """
    leaves = {
        name: x.detach().to(torch.float32 if name == "initial_state" else dtype).requires_grad_()
        for name, x in inputs.items()
    }
    o, state = fn(**leaves)
    assert o.dtype == dtype, f"output dtype {o.dtype}, expected the input dtype {dtype}"
    assert state.dtype == torch.float32, f"state dtype {state.dtype}, expected float32"
    do, dS = cotangents
    loss = (o.double() * do).sum() + (state.double() * dS).sum()
    grads = torch.autograd.grad(loss, list(leaves.values()))
    results = {"o": o.detach().double(), "state": state.detach().double()}
    results |= {f"d{name}": grad.double() for name, grad in zip(leaves, grads, strict=True)}
    return results


def misses(
    kernel: Callable[..., tuple[Tensor, Tensor]],
    reference: Callable[..., tuple[Tensor, Tensor]],
    inputs: Mapping[str, Tensor],
    dtype: torch.dtype,
    *,
    seed: int = 0,
) -> list[str]:
    """Where ``kernel`` exceeds the budget that ``reference`` sets against the oracle
    (``reference`` in float64), over outputs, final state and every gradient: a test asserts
    that there are none."""
    exact, cotangents = oracle(reference, inputs, seed=seed)
    budget = derive(run(reference, inputs, cotangents, dtype), exact, dtype)
    return check(run(kernel, inputs, cotangents, dtype), exact, budget)


def derive(reference: Results, exact: Results, dtype: torch.dtype) -> dict[str, float]:
    """Per tensor: ``FACTOR × max|reference − exact| + FLOOR · eps · max|exact|``."""
    eps = torch.finfo(dtype).eps
    return {
        name: FACTOR * (reference[name] - exact[name]).abs().max().item()
        + FLOOR * eps * exact[name].abs().max().item()
        for name in exact
    }


def check(actual: Results, exact: Results, budget: Mapping[str, float]) -> list[str]:
    """The tensors whose error exceeds their budget (or that are not finite), as messages."""
    failures = []
    for name, want in exact.items():
        got = actual[name]
        if got.shape != want.shape:
            failures.append(f"{name}: shape {list(got.shape)}, expected {list(want.shape)}")
            continue
        error = (got - want).abs().max().item()
        if not torch.isfinite(got).all() or not error <= budget[name]:
            failures.append(f"{name}: error {error:.3e} > budget {budget[name]:.3e}")
    return failures
