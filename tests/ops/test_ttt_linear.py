"""TTT-Linear: the step is one gradient step on ‖k + LN(Wk) − v‖²/2V (autograd's gradient, the
residual folded into the target); the mini-batch dual form equals the primal form (outputs,
final state, all gradients, float64); b = 1 is the registered rule; without LN it is delta
with β = η / V."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from fastweights.ops import RULES
from fastweights.ops.rules import ttt_linear
from fastweights.ops.rules.ttt_minibatch import minibatch_dual, minibatch_primal

TOL = {"rtol": 1e-10, "atol": 1e-10}


def _randn(*shape: int, seed: int) -> Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _inputs(B=2, T=10, H=2, K=4, V=4, seed=0, grad=True) -> dict[str, Tensor]:
    x = {
        "q": F.normalize(_randn(B, T, H, K, seed=seed), dim=-1),
        "k": F.normalize(_randn(B, T, H, K, seed=seed + 1), dim=-1),
        "v": _randn(B, T, H, V, seed=seed + 2),
        "eta": torch.sigmoid(_randn(B, T, H, seed=seed + 3)),
        "S": 0.5 * _randn(B, H, K, V, seed=seed + 4),
    }
    return {n: t.requires_grad_(grad) for n, t in x.items()}


def test_step_is_a_gradient_step_on_the_residual_layer_norm_loss() -> None:
    B, H, D = 2, 3, 5
    S0, k, v, q = (_randn(B, H, D, D, seed=1), _randn(B, H, D, seed=2),
                   _randn(B, H, D, seed=3), _randn(B, H, D, seed=4))  # fmt: skip
    eta = torch.rand(B, H, dtype=torch.float64)
    S = S0.clone().requires_grad_()
    z = (k.unsqueeze(-2) @ S).squeeze(-2)  # W k with W = Sᵀ
    ln = F.layer_norm(z, (D,), eps=ttt_linear.LN_EPS)
    loss = 0.5 * (k + ln - v).square().sum() / D  # f(k) = k + LN(W k), the paper's inner model
    (grad,) = torch.autograd.grad(loss, S)
    o, S1 = ttt_linear.step(S0, q, k, v - k, eta)  # the residual folded into the target
    torch.testing.assert_close(S1, S0 - eta[..., None, None] * grad, **TOL)
    torch.testing.assert_close(o, (q.unsqueeze(-2) @ S1).squeeze(-2), **TOL)  # o = W_t q


@pytest.mark.parametrize("b", [1, 3, 4, 16])
@pytest.mark.parametrize("normalise", [True, False])
def test_dual_form_equals_primal_form(b, normalise) -> None:
    x = _inputs(seed=b)
    primal = minibatch_primal(*x.values(), b, normalise=normalise)
    dual = minibatch_dual(*x.values(), b, normalise=normalise)
    for a, e in zip(dual, primal, strict=True):
        torch.testing.assert_close(a, e, **TOL)
    loss = [(o * o.cos()).sum() + S.sin().sum() for o, S in (dual, primal)]
    grads = [torch.autograd.grad(value, list(x.values())) for value in loss]
    for name, ga, gp in zip(x, *grads, strict=True):
        torch.testing.assert_close(ga, gp, **TOL, msg=lambda m, name=name: f"d{name}: {m}")


def test_mini_batches_differ_from_online_steps() -> None:
    x = _inputs(seed=7, grad=False)
    online, batched = (minibatch_dual(*x.values(), b)[1] for b in (1, 4))
    assert (online - batched).abs().max() > 1e-3  # the test above is not vacuous


def test_one_token_mini_batches_are_the_registered_rule() -> None:
    x = _inputs(seed=8, grad=False)
    out = RULES["ttt_linear"](x["q"], x["k"], x["v"], x["eta"], impl="recurrent",
                              initial_state=x["S"], scale=0.5)  # fmt: skip
    o, S = minibatch_primal(0.5 * x["q"], x["k"], x["v"], x["eta"], x["S"], 1)
    torch.testing.assert_close(out.o, o, **TOL)
    torch.testing.assert_close(out.state, S, **TOL)


def test_without_layer_norm_one_token_mini_batches_are_delta_with_eta_over_v() -> None:
    x = _inputs(seed=9, K=4, V=3, grad=False)
    o, S = minibatch_dual(0.5 * x["q"], x["k"], x["v"], x["eta"], x["S"], 1, normalise=False)
    delta = RULES["delta"](x["q"], x["k"], x["v"], x["eta"] / 3, impl="recurrent",
                           initial_state=x["S"], scale=0.5)  # fmt: skip
    torch.testing.assert_close(o, delta.o, **TOL)
    torch.testing.assert_close(S, delta.state, **TOL)


def test_bad_inputs() -> None:
    x = _inputs(V=1, grad=False)
    with pytest.raises(ValueError, match=r"ttt_linear: LayerNorm over the values needs V >= 2"):
        RULES["ttt_linear"](x["q"], x["k"], x["v"], x["eta"], impl="recurrent")
    with pytest.raises(ValueError, match=r"mini-batch size b must be an int >= 1, got 0"):
        minibatch_dual(*x.values(), 0)
