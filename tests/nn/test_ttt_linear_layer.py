"""TTTLinear: the rule sees the residual-free target v − k, and z = q + LN(W q) is f(q; W)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from fastweights.nn import TTTLinear
from fastweights.ops import RULES

TOL = {"rtol": 1e-10, "atol": 1e-10}


def test_the_layer_is_the_residual_inner_model() -> None:
    torch.manual_seed(0)
    layer = TTTLinear(16, 2, eta_base=0.5).double()
    x = torch.randn(2, 9, 16, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    seen = []
    layer.project.register_forward_hook(lambda module, args, out: seen.append(out))
    y, state = layer(x)
    (inputs,) = seen
    v = layer.project.qkv(x).view(2, 9, 3, 2, 8)[:, :, 2]
    torch.testing.assert_close(inputs.v + inputs.k, v, **TOL)  # the target v − k
    assert bool(((inputs.beta > 0) & (inputs.beta < 0.5)).all())
    o, fast = RULES["ttt_linear"](inputs.q, inputs.k, inputs.v, inputs.beta, impl="recurrent",
                                  scale=1.0)  # fmt: skip
    torch.testing.assert_close(state, fast, **TOL)
    torch.testing.assert_close(
        y,
        layer.out.o_proj(layer.out.norm(inputs.q + F.layer_norm(o, (8,), eps=1e-6)).flatten(2)),
        **TOL,
    )
