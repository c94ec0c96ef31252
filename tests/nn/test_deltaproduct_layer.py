"""DeltaProductNet: the rule sees n_h keys, values and rates per token; n_h = 1 is DeltaNet."""

from __future__ import annotations

import pytest
import torch

from fastweights.nn import DeltaNet, DeltaProductNet
from fastweights.ops import RULES

TOL = {"rtol": 1e-10, "atol": 1e-10}


def _x(T: int = 9) -> torch.Tensor:
    return torch.randn(2, T, 16, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


@pytest.mark.parametrize("use_short_conv", [True, False])
def test_the_rule_sees_n_h_steps_per_token(use_short_conv) -> None:
    torch.manual_seed(0)
    layer = DeltaProductNet(16, 2, n_h=3, use_short_conv=use_short_conv).double()
    seen = []
    layer.project.register_forward_hook(lambda module, args, out: seen.append(out))
    y, state = layer(_x())
    (inputs,) = seen
    assert inputs.k.shape == (2, 9, 2, 3, 8) and inputs.v.shape == (2, 9, 2, 3, 8)
    assert inputs.beta.shape == (2, 9, 2, 3)
    assert bool((inputs.beta > 0).all() and (inputs.beta < 2).all())
    assert bool((inputs.beta > 1).any())  # the negative-eigenvalue range is used
    ones = torch.ones(2, 9, 2, 3, dtype=torch.float64)
    torch.testing.assert_close(inputs.k.norm(dim=-1), ones, atol=1e-4, rtol=0)  # fla's eps 1e-6
    o, expected = RULES["delta_product"](inputs.q, inputs.k, inputs.v, inputs.beta,
                                         impl="recurrent", scale=8**-0.5)  # fmt: skip
    torch.testing.assert_close(y, layer.out(o.flatten(2), _x()), **TOL)
    fast = state.fast if use_short_conv else state
    torch.testing.assert_close(fast, expected, **TOL)


def test_one_step_per_token_is_deltanet() -> None:
    torch.manual_seed(0)
    product = DeltaProductNet(16, 2, n_h=1, allow_neg_eigval=False).double()
    deltanet = DeltaNet(16, 2).double()
    deltanet.load_state_dict(product.state_dict())  # the same parameter names
    torch.testing.assert_close(product(_x())[0], deltanet(_x())[0], **TOL)


def test_token_by_token_equals_one_call_with_three_steps() -> None:
    torch.manual_seed(1)
    layer, x = DeltaProductNet(16, 4, n_h=3).double(), _x(T=7)
    y, _ = layer(x)
    state, ys = None, []
    for t in range(7):
        y_t, state = layer(x[:, t : t + 1], state)
        ys.append(y_t)
    torch.testing.assert_close(torch.cat(ys, 1), y, **TOL)


@pytest.mark.parametrize("n_h", [0, -1, 1.5, True])
def test_bad_n_h(n_h) -> None:
    with pytest.raises(ValueError, match="n_h must be a positive integer"):
        DeltaProductNet(16, 2, n_h=n_h)
