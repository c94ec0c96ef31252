"""Titans' linear memory: the step is gradient descent with momentum and decay on ½‖Mk − v‖²
(checked against autograd's gradient); η = 0, α = 0 is the delta rule with β = θ; η = 0 alone
is one decayed gradient step per token; varlen carries each sequence's momentum.
(The shared contract over RULES covers forms == recurrent, all gradients, segments.)"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from fastweights.ops import RULES
from fastweights.ops.rules import titans

TOL = {"rtol": 1e-10, "atol": 1e-10}
RULE = RULES["titans"]


def _randn(*shape: int, seed: int) -> Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _inputs(B=2, T=11, H=2, K=4, V=3, seed=0) -> dict[str, Tensor]:
    return {
        "q": F.normalize(_randn(B, T, H, K, seed=seed), dim=-1),
        "k": F.normalize(_randn(B, T, H, K, seed=seed + 1), dim=-1),
        "v": _randn(B, T, H, V, seed=seed + 2),
        "beta": torch.sigmoid(_randn(B, T, H, seed=seed + 3)),
        "g": F.logsigmoid(_randn(B, T, H, seed=seed + 4) + 2),
        "eta": F.logsigmoid(_randn(B, T, H, seed=seed + 5) + 1),
    }


def test_step_is_gradient_descent_with_momentum_and_decay() -> None:
    B, H, K, V = 2, 3, 4, 5
    M0, P0 = _randn(B, H, K, V, seed=1), _randn(B, H, K, V, seed=2)
    k, v, q = _randn(B, H, K, seed=3), _randn(B, H, V, seed=4), _randn(B, H, K, seed=5)
    theta, a, eta = torch.rand(3, B, H, dtype=torch.float64)
    M = M0.clone().requires_grad_()
    loss = 0.5 * ((k.unsqueeze(-2) @ M).squeeze(-2) - v).square().sum()  # ½‖M k − v‖², S = Mᵀ
    (grad,) = torch.autograd.grad(loss, M)
    P = eta[..., None, None] * P0 - theta[..., None, None] * grad
    M1 = a[..., None, None] * M0 + P
    o, S = titans.step(torch.cat([M0, P0], -1), q, k, v, theta, g=a.log(), eta=eta.log())
    torch.testing.assert_close(S, torch.cat([M1, P], -1), **TOL)
    torch.testing.assert_close(o, (q.unsqueeze(-2) @ M1).squeeze(-2), **TOL)


@pytest.mark.parametrize("impl", ["recurrent", "chunk"])
def test_no_momentum_no_decay_is_the_delta_rule(impl) -> None:
    x = _inputs(seed=10)
    S0 = _randn(2, 2, 4, 3, seed=11)
    x["g"] = torch.zeros_like(x["g"])  # α = 0
    x["eta"] = torch.full_like(x["eta"], -1000.0)  # η = e^{-1000} = 0 in float64
    out = RULE(**x, impl=impl, chunk_size=4, initial_state=S0)
    delta = RULES["delta"](x["q"], x["k"], x["v"], x["beta"], impl="recurrent", initial_state=S0)
    torch.testing.assert_close(out.o, delta.o, **TOL)
    torch.testing.assert_close(out.state[..., :3], delta.state, **TOL)
    # with η = 0 the momentum is the last update alone: P_T = θ_T k_T (v_T − M_{T−1}ᵀ k_T)ᵀ
    M_T, P_T = out.state.split(3, -1)
    torch.testing.assert_close(M_T, delta.state, **TOL)
    assert P_T.abs().max() > 1e-3


@pytest.mark.parametrize("impl", ["recurrent", "chunk"])
def test_no_momentum_is_one_decayed_gradient_step_per_token(impl) -> None:
    x = _inputs(seed=20)
    x["eta"] = torch.full_like(x["eta"], -1000.0)
    out = RULE(**x, impl=impl, chunk_size=4)
    # M_t = a_t M_{t−1} + θ_t k_t (v_t − M_{t−1}ᵀ k_t)ᵀ, written out here (not gated delta's
    # a_t (I − β k kᵀ) M_{t−1}: the decay does not scale the error)
    M = torch.zeros(2, 2, 4, 3, dtype=torch.float64)
    q = x["q"] * 4**-0.5
    for t in range(11):
        error = x["v"][:, t] - (x["k"][:, t].unsqueeze(-2) @ M).squeeze(-2)
        M = x["g"][:, t].exp()[..., None, None] * M + x["k"][:, t].unsqueeze(-1) * (
            x["beta"][:, t, :, None] * error
        ).unsqueeze(-2)
        torch.testing.assert_close(out.o[:, t], (q[:, t].unsqueeze(-2) @ M).squeeze(-2), **TOL)


@pytest.mark.parametrize("impl", ["recurrent", "chunk"])
def test_varlen_carries_each_sequences_momentum(impl) -> None:
    x = {n: t[:1] for n, t in _inputs(seed=30).items()}
    S0 = _randn(2, 2, 4, 6, seed=31)  # memory and momentum per sequence
    cu = torch.tensor([0, 4, 11])
    packed = RULE(**x, impl=impl, chunk_size=3, initial_state=S0, cu_seqlens=cu)
    for i, (a, b) in enumerate(((0, 4), (4, 11))):
        alone = RULE(**{n: t[:, a:b] for n, t in x.items()}, impl="recurrent",
                     initial_state=S0[i : i + 1])  # fmt: skip
        torch.testing.assert_close(packed.o[:, a:b], alone.o, **TOL)
        torch.testing.assert_close(packed.state[i : i + 1], alone.state, **TOL)
    with pytest.raises(ValueError, match=r"one state per sequence, \[N = 2, H, K, V or 2V\]"):
        RULE(**x, impl=impl, initial_state=S0[:1], cu_seqlens=cu)


def test_bad_state_width_names_the_expected_shape() -> None:
    x = _inputs(seed=40)
    with pytest.raises(ValueError, match=r"initial_state must have shape \[N, H, K, V\]"):
        RULE(**x, impl="chunk", initial_state=torch.zeros(2, 2, 4, 4, dtype=torch.float64))
