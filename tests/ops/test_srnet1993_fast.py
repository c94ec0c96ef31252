"""The lean form of the 1993 net (separable addresses, rank-one writes) equals its scan.

float64, outputs, final state and every gradient (inputs, initial state, addresses and τ), with
and without writes (the ablation ``writes=False``), at
awkward lengths and for layouts whose ``R·N`` is and is not a multiple of ``2^L`` (the flat
weights then end in a zero tail); the separation of the binary codes it relies on; the error for
addresses that do not separate.
"""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from fastweights.ops.cells import srnet1993
from fastweights.ops.cells.srnet1993_fused import split_addresses

TOL = {"rtol": 1e-10, "atol": 1e-10}
LAYOUTS = {
    "default": srnet1993.LAYOUT,  # R·N = 25·30 = 750, 2^L = 32: a tail of 18
    "tiny": srnet1993.Layout(n_obs=1, n_eval=1, n_hidden=1, n_out=1),
    "layer-d4": srnet1993.layer_layout(4),  # the layer's layout at d = 4: R·N = 31·38
    "layer-d4-eval3": srnet1993.layer_layout(4, n_eval=3),  # three eval units (feedback)
}


def _grad(t: Tensor) -> Tensor:
    return t.detach().requires_grad_()


def _run(cell, x, state, params, impl: str) -> list[Tensor]:
    y, final = cell(x, state, params, impl=impl)
    loss = (y * y.cos()).sum() + sum((leaf * leaf.sin()).sum() for leaf in final)
    grads = torch.autograd.grad(loss, [*x, *state, *params], allow_unused=True)
    return [y, *final, *(torch.zeros(()) if g is None else g for g in grads)]


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize(("length", "micro_steps"), [(1, 1), (2, 3), (7, 2)])
@pytest.mark.parametrize("writes", [True, False], ids=["writes", "no-writes"])
def test_lean_equals_the_scan_with_all_gradients(
    layout: str, length: int, micro_steps: int, writes: bool
) -> None:
    cell = srnet1993.make_cell(LAYOUTS[layout], micro_steps, writes=writes)
    x, state, params = cell.example(2, length, torch.Generator().manual_seed(length))
    x = srnet1993.Inputs(*map(_grad, x))
    state = srnet1993.State(*map(_grad, state))
    params = srnet1993.Params(*map(_grad, params))
    expected = _run(cell, x, state, params, "recurrent")
    actual = _run(cell, x, state, params, "lean")
    for a, e in zip(actual, expected, strict=True):
        torch.testing.assert_close(a, e, **TOL)


def test_lean_equals_the_scan_for_sharp_pointers():
    """τ small (neighbours weigh e^{-20}): the factors span many orders of magnitude."""
    cell = srnet1993.make_cell(srnet1993.LAYOUT, 2)
    x, state, _ = cell.example(1, 5, torch.Generator().manual_seed(3))
    params = srnet1993.LAYOUT.params(0.05, dtype=torch.float64)
    state = state._replace(W=3 * state.W)  # saturated pointers
    x, state = srnet1993.Inputs(*map(_grad, x)), srnet1993.State(*map(_grad, state))
    params = srnet1993.Params(*map(_grad, params))
    for a, e in zip(
        _run(cell, x, state, params, "lean"), _run(cell, x, state, params, "recurrent"), strict=True
    ):
        torch.testing.assert_close(a, e, **TOL)


def test_the_layer_layout_has_no_tail():
    """At d = 32 (the benchmarked layer) N = 128 = 2^7: the flat rows are W's rows."""
    layout = srnet1993.layer_layout(32)
    split = split_addresses(layout.params().addresses, torch.tensor(0.5))
    assert (layout.n_units, split.L, split.P) == (128, 7, layout.n_computed)


def test_binary_codes_separate_into_high_and_low_bits():
    layout = srnet1993.LAYOUT
    A = layout.params().addresses
    split = split_addresses(A, torch.tensor(1.0))
    # the product of the two factors is g of the whole address, for a random pointer
    p = torch.rand(1, 2, layout.n_addr, generator=torch.Generator().manual_seed(0))
    from fastweights.ops.cells.srnet1993_fused import _factors

    e, _ = _factors(p, split)
    u, v = e[0, 0, : split.P], e[0, 0, split.P :]
    g = (u[:, None] * v[None, :]).flatten()[: A.shape[0]]
    expected = srnet1993.address_weights(p[:, 0], A, torch.tensor(1.0))[0]
    torch.testing.assert_close(g, expected, rtol=1e-5, atol=1e-6)


def test_addresses_that_do_not_separate_are_an_error():
    cell = srnet1993.cell
    x, state, params = cell.example(2, 3, torch.Generator().manual_seed(1))
    swapped = params.addresses.clone()
    swapped[[0, 5]] = swapped[[5, 0]]  # two connections exchange their codes
    cell(x, state, params._replace(addresses=swapped), impl="recurrent")  # the scan takes any
    with pytest.raises(ValueError, match="separable addresses"):
        cell(x, state, params._replace(addresses=swapped), impl="lean")
