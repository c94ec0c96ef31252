"""A fused RDN form whose backward rebuilds past fast weights by reverting updates.

The scan over ``fastweights.ops.cells.rdn.step`` lets autograd keep every ``S_t``: memory
``O(T·D²)`` per head. Here the four slow recurrent maps are stacked into one ``R = [R_q | R_k | R_v
| r_β]`` (``[H, D, 3D + 1]``), so a token costs one product for the slow net's recurrent part, two
for the delta rule and a rank-one update; the forward keeps the outputs ``y_t``, the keys ``k_t``
and the updates ``δ_t = β_t (v_t − S_{t-1}ᵀ k_t)`` (memory ``O(T·D)``). The backward walks back in
time with ``S_{t-1} = S_t − k_t δ_tᵀ`` and differentiates each step by hand::

    y = S_tᵀ q:             ∂q = S_t ∂y,       ∂S_t ∋ q ∂yᵀ
    S_t = S_{t-1} + k δᵀ:   ∂k ∋ ∂S_t δ,       ∂δ = ∂S_tᵀ k
    δ = β (v − v̄):          ∂β = ⟨∂δ, v − v̄⟩,  ∂v = β ∂δ,   ∂v̄ = −β ∂δ
    v̄ = S_{t-1}ᵀ k:         ∂k ∋ S_{t-1} ∂v̄,   ∂S_{t-1} = ∂S_t + k ∂v̄ᵀ
    pre = x + s R:          ∂x = ∂pre,  ∂R ∋ s ∂preᵀ,  ∂s = R ∂pre,  s = tanh(y_{t-1})

Reverting in float32 accumulates rounding over long sequences; the tests hold the form equal to
the scan in float64.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.autograd.function import FunctionCtx, once_differentiable


def _softmax_backward(p: Tensor, grad: Tensor) -> Tensor:
    return p * (grad - (p * grad).sum(-1, keepdim=True))


def _rows(x: Tensor) -> Tensor:
    return x.unsqueeze(1)  # [BH, D] -> [BH, 1, D] for batched vector-matrix products


class _FusedRDN(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: FunctionCtx, q: Tensor, k: Tensor, v: Tensor, beta: Tensor, S0: Tensor, y0: Tensor,
        R_q: Tensor, R_k: Tensor, R_v: Tensor, r_beta: Tensor,
    ) -> tuple[Tensor, Tensor, Tensor]:  # fmt: skip
        B, T, H, D = q.shape
        BH = B * H
        x = torch.cat([q, k, v, beta.unsqueeze(-1)], dim=-1)  # [B, T, H, 3D + 1]
        xs = x.transpose(0, 1).reshape(T, BH, 3 * D + 1)
        R = torch.cat([R_q, R_k, R_v, r_beta.unsqueeze(-1)], dim=-1)  # [H, D, 3D + 1]
        Rb = R.expand(B, *R.shape).reshape(BH, D, 3 * D + 1)
        S = S0.reshape(BH, D, D).clone()
        y = y0.reshape(BH, D)
        ys, keys, deltas = (x.new_empty(T, BH, D) for _ in range(3))
        for t in range(T):
            pre = torch.baddbmm(_rows(xs[t]), _rows(torch.tanh(y)), Rb).squeeze(1)
            q_t = torch.softmax(pre[:, :D], dim=-1)
            k_t = torch.softmax(pre[:, D : 2 * D], dim=-1)
            beta_t = torch.sigmoid(pre[:, 3 * D :])
            v_bar = torch.bmm(_rows(k_t), S).squeeze(1)
            torch.mul(beta_t, pre[:, 2 * D : 3 * D] - v_bar, out=deltas[t])
            keys[t] = k_t
            S.baddbmm_(k_t.unsqueeze(-1), _rows(deltas[t]))
            y = torch.bmm(_rows(q_t), S).squeeze(1)
            ys[t] = y
        ctx.save_for_backward(xs, y0, Rb, S, ys, keys, deltas)
        ctx.shape = (B, T, H, D)
        out = ys.view(T, B, H, D).transpose(0, 1).contiguous()
        return out, S.view(B, H, D, D), y.view(B, H, D)

    @staticmethod
    @once_differentiable
    def backward(
        ctx: FunctionCtx, d_out: Tensor, d_S_final: Tensor, d_y_final: Tensor
    ) -> tuple[Tensor | None, ...]:
        xs, y0, Rb, S_final, ys, keys, deltas = ctx.saved_tensors
        B, T, H, D = ctx.shape
        BH = B * H
        d_ys = d_out.transpose(0, 1).reshape(T, BH, D)
        d_S = d_S_final.reshape(BH, D, D).clone()
        d_y = d_y_final.reshape(BH, D) + d_ys[T - 1]  # ∂ of y_{T-1}
        S = S_final.clone()
        d_xs = torch.empty_like(xs)
        d_Rb = torch.zeros_like(Rb)
        for t in reversed(range(T)):
            S_after = S.clone()
            S.baddbmm_(keys[t].unsqueeze(-1), _rows(deltas[t]), alpha=-1)  # S_{t-1}
            y_prev = y0.reshape(BH, D) if t == 0 else ys[t - 1]
            s = torch.tanh(y_prev)
            pre = torch.baddbmm(_rows(xs[t]), _rows(s), Rb).squeeze(1)
            q_t = torch.softmax(pre[:, :D], dim=-1)
            k_t = torch.softmax(pre[:, D : 2 * D], dim=-1)
            beta_t = torch.sigmoid(pre[:, 3 * D :])
            v_bar = torch.bmm(_rows(k_t), S).squeeze(1)
            diff = pre[:, 2 * D : 3 * D] - v_bar
            delta = beta_t * diff
            # y = S_tᵀ q
            d_q = torch.bmm(S_after, d_y.unsqueeze(-1)).squeeze(-1)
            d_S.baddbmm_(q_t.unsqueeze(-1), _rows(d_y))
            # S_t = S_{t-1} + k δᵀ
            d_k = torch.bmm(d_S, delta.unsqueeze(-1)).squeeze(-1)
            d_delta = torch.bmm(_rows(k_t), d_S).squeeze(1)
            # δ = β (v − v̄), v̄ = S_{t-1}ᵀ k
            d_beta = (d_delta * diff).sum(-1, keepdim=True)
            d_v = beta_t * d_delta
            d_k += torch.bmm(S, d_v.neg().unsqueeze(-1)).squeeze(-1)
            d_S.baddbmm_(k_t.unsqueeze(-1), _rows(d_v), alpha=-1)
            d_pre = torch.cat(
                [
                    _softmax_backward(q_t, d_q),
                    _softmax_backward(k_t, d_k),
                    d_v,
                    d_beta * beta_t * (1 - beta_t),
                ],
                dim=-1,
            )
            d_xs[t] = d_pre
            d_Rb.baddbmm_(s.unsqueeze(-1), _rows(d_pre))  # pre = x + s R
            d_s = torch.bmm(Rb, d_pre.unsqueeze(-1)).squeeze(-1)
            d_y = d_s * (1 - s * s) + (d_ys[t - 1] if t > 0 else 0)  # ∂ of y_{t-1}
        d_x = d_xs.view(T, B, H, 3 * D + 1).transpose(0, 1)
        d_q, d_k, d_v, d_beta = d_x.split([D, D, D, 1], dim=-1)
        d_R = d_Rb.view(B, H, D, 3 * D + 1).sum(0)
        d_R_q, d_R_k, d_R_v, d_r_beta = d_R.split([D, D, D, 1], dim=-1)
        return (
            d_q, d_k, d_v, d_beta.squeeze(-1), d_S.view(B, H, D, D), d_y.view(B, H, D),
            d_R_q, d_R_k, d_R_v, d_r_beta.squeeze(-1),
        )  # fmt: skip


def fused_rdn(
    q: Tensor, k: Tensor, v: Tensor, beta: Tensor, S0: Tensor, y0: Tensor,
    R_q: Tensor, R_k: Tensor, R_v: Tensor, r_beta: Tensor,
) -> tuple[Tensor, Tensor, Tensor]:  # fmt: skip
    """The RDN over inputs ``[B, T, H, ·]``: ``(y [B, T, H, D], S_T, y_T)``, equal to the scan."""
    return _FusedRDN.apply(q, k, v, beta, S0, y0, R_q, R_k, R_v, r_beta)
