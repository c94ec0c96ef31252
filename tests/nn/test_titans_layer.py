"""TitansMemory: the rule sees L2-normalised q, k, θ ∈ (0, 1) and the two log-gates; the state
carries the memory and its momentum, so segments equal one call."""

from __future__ import annotations

import torch

from fastweights.nn import TitansMemory
from fastweights.ops import RULES

TOL = {"rtol": 1e-10, "atol": 1e-10}


def _x(T: int) -> torch.Tensor:
    return torch.randn(2, T, 16, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


def test_the_rule_sees_the_memory_inputs() -> None:
    torch.manual_seed(0)
    layer = TitansMemory(16, 2).double()
    seen = []
    layer.project.register_forward_hook(lambda module, args, out: seen.append(out))
    y, state = layer(_x(9))
    (inputs,) = seen
    assert set(inputs.gates) == {"g", "eta"} and all(
        bool((g < 0).all()) for g in inputs.gates.values()
    )
    assert bool(((inputs.beta > 0) & (inputs.beta < 1)).all())
    torch.testing.assert_close(
        inputs.k.norm(dim=-1), torch.ones(2, 9, 2, dtype=torch.float64), atol=1e-4, rtol=0
    )
    o, fast = RULES["titans"](inputs.q, inputs.k, inputs.v, inputs.beta, impl="recurrent",
                              scale=8**-0.5, **inputs.gates)  # fmt: skip
    assert state.fast.shape == (2, 2, 8, 16)  # memory | momentum
    torch.testing.assert_close(state.fast, fast, **TOL)
    torch.testing.assert_close(y, layer.out(o.flatten(2), _x(9)), **TOL)


def test_segments_carry_the_momentum() -> None:
    torch.manual_seed(1)
    layer, x = TitansMemory(16, 4).double(), _x(13)
    y, _ = layer(x)
    y1, state = layer(x[:, :6])
    assert state.fast[..., 4:].abs().max() > 1e-3  # a momentum is carried
    y2, _ = layer(x[:, 6:], state)
    torch.testing.assert_close(torch.cat([y1, y2], 1), y, **TOL)
