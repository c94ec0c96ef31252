"""TTT-Linear: a linear fast weight trained by one gradient step per token on a LayerNorm loss.

The inner model is ``f(x; W) = x + LN(W x)`` and the loss ``ℓ(W; k, v) = ‖f(k; W) − v‖² / (2V)``
(Sun et al. 2024, "Learning to (Learn at Test Time)", arXiv:2407.04620). The residual folds into
the target, ``‖k + LN(Wk) − v‖ = ‖LN(Wk) − (v − k)‖``, so this rule takes the residual-free
target, and it reads the fast weight linearly as every rule does: the layer passes ``v − k`` and
computes ``f(q; W_t) = q + LN(o_t)``::

    z = S_{t-1}ᵀ k_t,   y = LN(z),   e = y − v_t                (S = Wᵀ, LN without affine)
    ∂ℓ/∂z = (e − mean(e) − y · mean(e ⊙ y)) / (V σ(z))           (LayerNorm's backward)
    S_t = S_{t-1} − η_t k_t (∂ℓ/∂z)ᵀ,   o_t = S_tᵀ q_t

``beta`` is the inner learning rate ``η_t`` ``[B, T, H]``. This is the paper's online form
(mini-batch ``b = 1``); its mini-batch forms (gradients at the mini-batch's start weights, primal
and dual) are in ``fastweights.ops.rules.ttt_minibatch``. Without the LayerNorm it is the delta
rule with ``β = η / V``. The loss is a mean over the ``V`` channels (the paper writes the sum; its
code divides the learning rate by the head size, the same step), so ``η`` means the same at any
width. The paper's LN scale and shift are learned in the outer loop; the rule
contract carries no per-head parameters, so here LN has none (``γ = 1``, ``δ = 0``). Forms:
``recurrent`` only (LN makes the per-token gradient nonlinear in ``S``: no exact chunk form).
"""

from __future__ import annotations

from torch import Tensor

from fastweights.ops.rule import LearningRule, RuleSpec, recurrent

LN_EPS = 1e-6


def layer_norm(z: Tensor) -> tuple[Tensor, Tensor]:
    """``LN(z)`` over the last axis without affine, and ``σ = sqrt(var + eps)`` (kept dim)."""
    mean = z.mean(-1, keepdim=True)
    sigma = (z.var(-1, unbiased=False, keepdim=True) + LN_EPS).sqrt()
    return (z - mean) / sigma, sigma


def loss_gradient(z: Tensor, v: Tensor, *, normalise: bool = True) -> Tensor:
    """``∂/∂z ‖LN(z) − v‖² / 2V`` (``normalise=False``: of ``‖z − v‖² / 2V``); ``z, v [.., V]``."""
    V = z.shape[-1]
    if not normalise:
        return (z - v) / V
    y, sigma = layer_norm(z)
    e = y - v
    return (e - e.mean(-1, keepdim=True) - y * (e * y).mean(-1, keepdim=True)) / (V * sigma)


def step(S: Tensor, q_t: Tensor, k_t: Tensor, v_t: Tensor, beta_t: Tensor) -> tuple[Tensor, Tensor]:
    """One token: ``S [B,H,K,V]``; ``q_t, k_t [B,H,K]`` (``q_t`` scaled); ``v_t [B,H,V]``;
    ``beta_t = η_t [B,H]``. Returns ``(o_t = S_tᵀ q_t, S_t)``."""
    z = (k_t.unsqueeze(-2) @ S).squeeze(-2)  # W k  [B, H, V]
    grad = loss_gradient(z, v_t)
    S = S - k_t.unsqueeze(-1) * (beta_t.unsqueeze(-1) * grad).unsqueeze(-2)
    return (q_t.unsqueeze(-2) @ S).squeeze(-2), S


def _check_values(V: int) -> None:
    if V < 2:
        raise ValueError(f"ttt_linear: LayerNorm over the values needs V >= 2, got V={V}")


def _recurrent(
    q: Tensor, k: Tensor, v: Tensor, beta: Tensor, state: Tensor, **options: object
) -> tuple[Tensor, Tensor]:
    _check_values(v.shape[-1])
    return recurrent(step)(q, k, v, beta, state, **options)


# as a layer: L2-normalised q and k (the paper's keys are plain projections; normalised keys keep
# the inner step size η meaningful at any width) and a learned η
ttt_linear_rule = LearningRule(
    "ttt_linear", step, {"recurrent": _recurrent}, per_channel_beta=False,
    layer=RuleSpec(feature_map="identity", norm="l2", learn_beta=True),
)  # fmt: skip
