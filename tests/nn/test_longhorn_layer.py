"""LonghornLayer: the rule sees per-channel rates and the convolved inputs as values."""

from __future__ import annotations

import torch

from fastweights.nn import LonghornLayer
from fastweights.ops import RULES

TOL = {"rtol": 1e-10, "atol": 1e-10}


def test_the_rule_sees_the_block_inputs() -> None:
    torch.manual_seed(0)
    layer = LonghornLayer(8, 2, expand=2, d_state=3).double()
    x = torch.randn(2, 7, 8, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    seen = []
    layer.project.register_forward_hook(lambda module, args, out: seen.append(out))
    y, state = layer(x)
    (inputs,) = seen
    assert inputs.k.shape == inputs.q.shape == (2, 7, 2, 3)
    assert inputs.v.shape == inputs.beta.shape == (2, 7, 2, 8)  # d_inner = 16 over 2 heads
    conv_x, _ = layer.project.conv1d(layer.project.x_proj(x))
    torch.testing.assert_close(inputs.v.flatten(2), conv_x, **TOL)
    o, fast = RULES["longhorn"](inputs.q, inputs.k, inputs.v, inputs.beta, impl="recurrent",
                                scale=1.0)  # fmt: skip
    z = layer.out.z_proj(x)
    torch.testing.assert_close(y, layer.out.out_proj(o.flatten(2) * torch.nn.functional.silu(z)))
    torch.testing.assert_close(state.fast, fast, **TOL)
