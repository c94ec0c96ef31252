"""A fused SRWM form whose backward rebuilds past weights by reverting updates.

The scan over ``fastweights.ops.cells.srwm.step`` lets autograd keep every ``W_t``: memory
``O(T·D²)`` per head. Here the four sub-matrices are stacked into one ``W = [W_y; W_q; W_k;
w_bᵀ]`` (``R = Y + 2D + 4`` rows, ``Y = D`` for the SRWM), so a token costs two matrix-vector
products and one rank-one update, and the forward keeps only what the backward needs to undo
each update, the row vector
``e_t = β_t ⊙_rows W_{t-1}(q_t − k_t)`` and ``k_t`` (memory ``O(T·D)``), as the official CUDA
kernel does (Irie et al. 2022, arXiv:2202.05780). The backward walks back in time with
``W_{t-1} = W_t − e_t k_tᵀ`` and differentiates each step by hand::

    ∂e = ∂W' k,  ∂k ∋ ∂W'ᵀ e,  ∂d = β ⊙ ∂e,  ∂β ∋ Σ_rows ∂e ⊙ d,   (W' = W + e kᵀ, e = β ⊙ d)
    ∂W ∋ ∂d uᵀ,  ∂u = Wᵀ ∂d,  ∂q = ∂u,  ∂k ∋ −∂u,                    (d = W u, u = q − k)
    ∂z = [∂y, softmax'(∂q), softmax'(∂k), σ'(∂β)],  ∂W ∋ ∂z xᵀ,  ∂x = Wᵀ ∂z   (z = W x)

Reverting in float32 accumulates rounding over long sequences (as in the official kernel);
the tests hold the form equal to the scan in float64.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.autograd.function import FunctionCtx, once_differentiable

from fastweights.ops.rules.chunking import mul_into


def _rate_index(Y: int, D: int, device: torch.device) -> Tensor:
    """Which of the four rates ``β [BH, 4]`` each row of the stacked matrix takes, ``[R]``:
    ``β.index_select(1, index)`` is every row's rate, ``[BH, R]`` (one small op per token; a
    ``repeat_interleave`` by a tensor of sizes would be a data-dependent shape to the compiler)."""
    return torch.tensor([i for i, n in enumerate((Y, D, D, 4)) for _ in range(n)], device=device)


def _read(W: Tensor, x: Tensor, Y: int, D: int) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """``z = W x`` split into ``y``, ``q``, ``k`` (softmax), ``β`` (σ), and ``u = q − k``."""
    z = torch.bmm(W, x.unsqueeze(-1)).squeeze(-1)  # [BH, R]
    q = torch.softmax(z[:, Y : Y + D], dim=-1)
    k = torch.softmax(z[:, Y + D : Y + 2 * D], dim=-1)
    return z[:, :Y], q, k, torch.sigmoid(z[:, Y + 2 * D :]), q - k


def _softmax_backward(p: Tensor, grad: Tensor) -> Tensor:
    return p * (grad - (p * grad).sum(-1, keepdim=True))


class _FusedSRWM(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: FunctionCtx, x: Tensor, W_y: Tensor, W_q: Tensor, W_k: Tensor, w_b: Tensor
    ) -> tuple[Tensor, ...]:
        B, T, H, D = x.shape
        Y = W_y.shape[-2]  # rows of the output block (D for the SRWM, 3D + 1 for SR-Delta)
        R = Y + 2 * D + 4
        xs = x.transpose(0, 1).reshape(T, B * H, D)  # time-major copy: xs[t] is contiguous
        W = torch.cat([W_y, W_q, W_k, w_b.mT], dim=-2).reshape(B * H, R, D)
        ys = x.new_empty(T, B * H, Y)
        updates, keys = x.new_empty(T, B * H, R), x.new_empty(T, B * H, D)
        rate_index = _rate_index(Y, D, x.device)
        for t in range(T):
            y, _, k, beta, u = _read(W, xs[t], Y, D)
            ys[t] = y
            d = torch.bmm(W, u.unsqueeze(-1)).squeeze(-1)  # v − v̄ for every row
            mul_into(updates[t], d, beta.index_select(1, rate_index))
            keys[t] = k
            W.baddbmm_(updates[t].unsqueeze(-1), k.unsqueeze(1))  # W += e kᵀ
        ctx.save_for_backward(xs, W, updates, keys)
        ctx.shape = (B, H, Y, D)
        y = ys.view(T, B, H, Y).transpose(0, 1).contiguous()
        return y, *_split(W.view(B, H, R, D), Y, D)

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, d_y: Tensor, *d_state: Tensor) -> tuple[Tensor, ...]:
        xs, W_final, updates, keys = ctx.saved_tensors
        B, H, Y, D = ctx.shape
        T, R = xs.shape[0], Y + 2 * D + 4
        d_ys = d_y.transpose(0, 1).reshape(T, B * H, Y)
        d_W = torch.cat([d_state[0], d_state[1], d_state[2], d_state[3].mT], dim=-2)
        d_W = d_W.reshape(B * H, R, D).contiguous()
        W = W_final.clone()
        d_xs = torch.empty_like(xs)
        rate_index = _rate_index(Y, D, xs.device)
        for t in reversed(range(T)):
            W.baddbmm_(updates[t].unsqueeze(-1), keys[t].unsqueeze(1), alpha=-1)  # W_{t-1}
            _, q, k, beta, u = _read(W, xs[t], Y, D)
            rates = beta.index_select(1, rate_index)
            d = torch.bmm(W, u.unsqueeze(-1)).squeeze(-1)
            e = rates * d
            d_e = torch.bmm(d_W, k.unsqueeze(-1)).squeeze(-1)  # W' = W + e kᵀ
            d_k = torch.bmm(d_W.mT, e.unsqueeze(-1)).squeeze(-1)
            d_d = d_e * rates
            d_rates = d_e * d
            d_u = torch.bmm(W.mT, d_d.unsqueeze(-1)).squeeze(-1)  # d = W u
            d_W.baddbmm_(d_d.unsqueeze(-1), u.unsqueeze(1))
            d_beta = torch.stack([part.sum(-1) for part in d_rates.split([Y, D, D, 4], 1)], 1)
            d_z = torch.cat(
                [
                    d_ys[t],
                    _softmax_backward(q, d_u),
                    _softmax_backward(k, d_k - d_u),
                    d_beta * beta * (1 - beta),
                ],
                dim=1,
            )
            d_xs[t] = torch.bmm(W.mT, d_z.unsqueeze(-1)).squeeze(-1)  # z = W x
            d_W.baddbmm_(d_z.unsqueeze(-1), xs[t].unsqueeze(1))
        d_x = d_xs.view(T, B, H, D).transpose(0, 1)
        return d_x, *_split(d_W.view(B, H, R, D), Y, D)


def _split(W: Tensor, Y: int, D: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``[B, H, Y + 2D + 4, D]`` -> ``W_y [B, H, Y, D]``, ``W_q, W_k [B, H, D, D]``, ``w_b``."""
    W_y, W_q, W_k, w_b_t = W.split([Y, D, D, 4], dim=-2)
    return W_y, W_q, W_k, w_b_t.mT


def fused_srwm(
    x: Tensor, W_y: Tensor, W_q: Tensor, W_k: Tensor, w_b: Tensor
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """The SRWM over ``x [B, T, H, D]``: ``(y, W_y, W_q, W_k, w_b)``, equal to the scan.

    ``W_y`` may have any number of rows (SR-Delta's emits a DeltaNet's ``q, k, v, β``).
    """
    return _FusedSRWM.apply(x, W_y, W_q, W_k, w_b)
