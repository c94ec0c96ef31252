"""Longhorn: the step is the exact minimiser of its online regression objective; with β chosen so
that ε = β_delta it is the delta rule; the chunk form's rates match; negative weights are refused.
(The shared contract over RULES covers forms == recurrent, gradients, varlen, segments.)"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from fastweights.ops import RULES
from fastweights.ops.rules import longhorn

TOL = {"rtol": 1e-10, "atol": 1e-10}


def _randn(*shape: int, seed: int = 0) -> Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("per_channel", [False, True])
def test_step_minimises_the_online_regression_objective(per_channel) -> None:
    B, H, K, V = 2, 3, 5, 4
    S0, k, v = _randn(B, H, K, V, seed=1), 2 * _randn(B, H, K, seed=2), _randn(B, H, V, seed=3)
    beta = torch.rand(B, H, V if per_channel else 1, dtype=torch.float64).squeeze(-1) * 3
    _, S = longhorn.step(S0, _randn(B, H, K, seed=4), k, v, beta)
    # objective per channel j: ‖s − s0‖² + β_j (sᵀk − v_j)²; its gradient at the step is zero
    weight = beta if per_channel else beta.unsqueeze(-1)
    residual = (k.unsqueeze(-2) @ S).squeeze(-2) - v  # [B, H, V]
    grad = 2 * (S - S0) + 2 * k.unsqueeze(-1) * (weight * residual).unsqueeze(-2)
    torch.testing.assert_close(grad, torch.zeros_like(grad), atol=1e-12, rtol=0)
    # and it never overshoots: the new residual is the old one times 1 − ε‖k‖² ∈ (0, 1]
    old = (k.unsqueeze(-2) @ S0).squeeze(-2) - v
    shrink = 1 - longhorn.step_size(weight, k.unsqueeze(-2).expand(B, H, V, K)) * k.square().sum(
        -1, keepdim=True
    )
    torch.testing.assert_close(residual, shrink * old, **TOL)


@pytest.mark.parametrize("impl", ["recurrent", "chunk"])
def test_epsilon_replaced_by_beta_is_the_delta_rule(impl) -> None:
    B, T, H, K, V = 2, 11, 2, 4, 3
    q, k = (
        F.normalize(_randn(B, T, H, K, seed=5), dim=-1),
        1.3 * F.normalize(_randn(B, T, H, K, seed=6), dim=-1),
    )
    v, S0 = _randn(B, T, H, V, seed=7), _randn(B, H, K, V, seed=8)
    beta_delta = 0.5 * torch.sigmoid(_randn(B, T, H, seed=9))  # β‖k‖² < 1
    # ε(β) = β_delta  <=>  β = β_delta / (1 − β_delta ‖k‖²)
    beta = beta_delta / (1 - beta_delta * k.square().sum(-1))
    out = RULES["longhorn"](q, k, v, beta, impl=impl, chunk_size=4, initial_state=S0)
    expected = RULES["delta"](q, k, v, beta_delta, impl="recurrent", initial_state=S0)
    torch.testing.assert_close(out.o, expected.o, **TOL)
    torch.testing.assert_close(out.state, expected.state, **TOL)


def test_huge_weight_stores_the_value_exactly() -> None:
    # β → ∞: ε → 1/‖k‖², the regression target is met exactly (S_tᵀ k_t = v_t)
    B, H, K, V = 1, 2, 4, 3
    S0, k, v = _randn(B, H, K, V, seed=10), _randn(B, H, K, seed=11), _randn(B, H, V, seed=12)
    _, S = longhorn.step(S0, k, k, v, torch.full((B, H), 1e12, dtype=torch.float64))
    torch.testing.assert_close((k.unsqueeze(-2) @ S).squeeze(-2), v, atol=1e-9, rtol=0)


@pytest.mark.parametrize("impl", ["recurrent", "chunk"])
def test_negative_weight_is_refused(impl) -> None:
    x = [_randn(1, 3, 1, 2, seed=i) for i in range(3)]
    beta = torch.tensor([[[0.5], [-0.25], [1.0]]], dtype=torch.float64)
    with pytest.raises(ValueError, match=r"longhorn: beta must be >= 0 .*got min -0.25"):
        RULES["longhorn"](*x, beta, impl=impl)
