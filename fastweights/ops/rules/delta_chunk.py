"""Chunkwise-parallel (gated) delta rule with a memory-lean, hand-written backward.

Recurrence (``α_t = exp(g_t)``; ``g = None`` is the plain delta rule, ``α = 1``)::

    S_t = α_t (I − β_t k_t k_tᵀ) S_{t-1} + β_t k_t v_tᵀ,    o_t = S_tᵀ q_t

Within a chunk of ``C`` tokens entered with state ``S``, with ``Γ_i = Σ_{s≤i} g_s``, the updates
``δ_i = β_i (v_i − k_iᵀ α_i S_{i-1})`` have the WY/UT form (Yang et al. 2024, arXiv:2406.06484;
gated: Yang, Kautz, Hatamizadeh, arXiv:2412.06464)::

    M  = [exp(Γ_i − Γ_j)]_{j≤i},   A = strict_tril(diag(β) (K Kᵀ ⊙ M)),   T = (I + A)⁻¹
    U  = T diag(β) V,   W = T diag(β e^Γ) K,   Δ = U − W S
    O  = diag(e^Γ) Q S + (Q Kᵀ ⊙ M) Δ
    S' = e^{Γ_C} S + (diag(e^{Γ_C − Γ}) K)ᵀ Δ

The state-independent part (``T, U, W, P = QKᵀ ⊙ M``) is batched over a block of chunks; only
``Δ`` and ``S'`` run chunk by chunk. Blocks keep the working set in cache and the buffers
reused. The backward stores the inputs, the chunk states ``S_0..S_N`` and ``Δ`` — memory
``O(T·(K+V) + (T/C)·K·V)``, not one state per token — recomputes each block's intra-chunk part
and differentiates it by hand (``∂A = −strict_tril(T^T ∂X Xᵀ)`` for ``X = T R``). ``exp``
arguments are clamped at −87: below it float32 ``exp`` underflows and runs ~36× slower, while
the clamped terms are < 1e-37.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor
from torch.autograd.function import FunctionCtx, once_differentiable

from fastweights.ops.rule import per_channel_as_heads
from fastweights.ops.rules.chunking import baddbmm_into, chunk_blocks, gather, scatter
from fastweights.ops.rules.triangular import unit_lower_inverse

_EXP_FLOOR = -87.0


class _Intra(NamedTuple):
    """Intra-chunk quantities of a block ``[G·BH, ...]``; the gate fields are None without ``g``."""

    T: Tensor  # (I + A)⁻¹ [.., C, C]
    U: Tensor  # [.., C, V]
    W: Tensor  # [.., C, K]
    P: Tensor  # Q Kᵀ ⊙ M [.., C, C]
    M: Tensor | None  # decay mask [.., C, C]
    e: Tensor | None  # e^Γ [.., C]
    f: Tensor | None  # e^{Γ_C − Γ} [.., C]


def _intra(q: Tensor, k: Tensor, v: Tensor, beta: Tensor, g: Tensor | None) -> _Intra:
    rate = beta.unsqueeze(-1)
    k_rate = k * rate
    A, P = k_rate @ k.mT, q @ k.mT  # A_ij = β_i k_i·k_j before masking
    if g is None:
        M = e = f = None
        P.tril_()
        w_rhs = k_rate
    else:
        gamma = g.cumsum(-1)
        # zero the upper triangle before exp so it cannot overflow there
        M = (
            (gamma.unsqueeze(-1) - gamma.unsqueeze(-2))
            .tril_()
            .clamp_min_(_EXP_FLOOR)
            .exp_()
            .tril_()
        )
        e = gamma.clamp_min(_EXP_FLOOR).exp()
        f = (gamma[..., -1:] - gamma).clamp_min_(_EXP_FLOOR).exp_()
        A.mul_(M)
        P.mul_(M)
        w_rhs = k_rate * e.unsqueeze(-1)
    T = unit_lower_inverse(A.tril_(-1))
    return _Intra(T, T @ (v * rate), T @ w_rhs, P, M, e, f)


def _intra_backward(
    x: _Intra, q: Tensor, k: Tensor, v: Tensor, beta: Tensor,
    d_U: Tensor, d_W: Tensor, d_P: Tensor, d_q_dec: Tensor, d_k_dec: Tensor, d_decay: Tensor | None,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor | None]:  # fmt: skip
    """Gradients w.r.t. ``q, k, v, beta, g`` of a block, given those of ``U, W, P, Q̃, K̃, e^{Γ_C}``.

    The masked products ``A = strict_tril(β_i k_i·k_j M_ij)`` and ``P = Q Kᵀ ⊙ M`` are
    differentiated through matrix products only: with ``Z = ∂A ⊙ M`` and ``Y = ∂P ⊙ M``,
    ``∂k_i ∋ β_i (Z K)_i + (Zᵀ βK)_i + (Yᵀ Q)_i``, and the row and column sums of ``∂M ⊙ M``
    needed for the gate are dot products of those rows with ``q`` and ``k``.
    """
    rate = beta.unsqueeze(-1)
    k_rate = k * rate
    d_Rv, d_Rk = x.T.mT @ d_U, x.T.mT @ d_W  # X = T R  =>  ∂R = Tᵀ ∂X
    # ∂A = −∂R Xᵀ = −∂R_v Uᵀ − ∂R_k Wᵀ, strictly lower
    Z = torch.baddbmm(d_Rv @ x.U.mT, d_Rk, x.W.mT, beta=-1, alpha=-1).tril_(-1)
    gated = x.M is not None
    Y = d_P * x.M if gated else d_P.tril()
    if gated:
        Z.mul_(x.M)
    Z_k, Zt_k = Z @ k, Z.mT @ k_rate  # [.., C, K]
    Y_k, Yt_q = Y @ k, Y.mT @ q
    z_dot_k = (Z_k * k).sum(-1)  # Σ_j Z_ij k_i·k_j
    d_beta = (d_Rv * v).sum(-1) + z_dot_k
    d_k = Z_k.mul_(rate).add_(Zt_k).add_(Yt_q)
    d_v = d_Rv * rate
    d_w_rhs = (d_Rk * k).sum(-1)  # ∂ of the rate of W's right-hand side, β (e^Γ)
    if not gated:
        d_k += d_Rk * rate + d_k_dec
        return Y_k + d_q_dec, d_k, d_v, d_beta + d_w_rhs, None
    e, f = x.e, x.f
    d_k += d_Rk * (rate * e.unsqueeze(-1)) + d_k_dec * f.unsqueeze(-1)
    d_q = Y_k + d_q_dec * e.unsqueeze(-1)
    d_beta += d_w_rhs * e
    # ∂Γ_i from every exp(.) of it; D = ∂M ⊙ M has row sums β_i k_i·(Z K)_i + q_i·(Y K)_i
    # and column sums k_j·(Zᵀ βK)_j + k_j·(Yᵀ Q)_j
    D_rows = z_dot_k * beta + (Y_k * q).sum(-1)
    D_cols = ((Zt_k + Yt_q) * k).sum(-1)
    d_f = (d_k_dec * k).sum(-1) * f
    d_gamma = (d_w_rhs * beta + (d_q_dec * q).sum(-1)) * e - d_f + D_rows - D_cols
    d_gamma[..., -1] += d_decay * e[..., -1] + d_f.sum(-1)
    d_g = d_gamma.flip(-1).cumsum(-1).flip(-1)  # Γ = cumsum(g)
    return d_q, d_k, d_v, d_beta, d_g


def _decays(x: _Intra) -> Tensor | None:
    return None if x.e is None else x.e[..., -1]  # e^{Γ_C} per chunk, [G·BH]


def _decayed(x: _Intra, q: Tensor, k: Tensor) -> tuple[Tensor, Tensor]:
    """The decayed queries ``Q̃ = diag(e^Γ) Q`` and keys ``K̃ = diag(e^{Γ_C − Γ}) K``."""
    if x.e is None:
        return q, k
    return q * x.e.unsqueeze(-1), k * x.f.unsqueeze(-1)


class _ChunkDelta(torch.autograd.Function):
    """Inputs in the rule layout ``[B, T, H, D]``, ``q`` unscaled; ``S0 [B·H, K, V]``."""

    @staticmethod
    def forward(
        ctx: FunctionCtx, q: Tensor, k: Tensor, v: Tensor, beta: Tensor, g: Tensor | None,
        S0: Tensor, C: int, scale: float,
    ) -> tuple[Tensor, Tensor]:  # fmt: skip
        B, T, H, _ = q.shape
        BH, N = B * H, -(-T // C)
        blocks = chunk_blocks(T, C, BH)
        states = S0.new_empty(N + 1, *S0.shape)  # S_0 .. S_N, entering each chunk and the last
        states[0] = S0
        delta = v.new_empty(N * BH, C, v.shape[-1])  # Δ of every chunk, chunk-major
        o = torch.empty_like(v)
        for t0, t1 in blocks:
            q_ = gather(q, t0, t1, C, scale)
            k_, v_, beta_ = (gather(x, t0, t1, C) for x in (k, v, beta))
            g_ = None if g is None else gather(g, t0, t1, C)
            x = _intra(q_, k_, v_, beta_, g_)
            q_dec, k_dec = _decayed(x, q_, k_)
            decay = _decays(x)
            n0, n1 = t0 // C, -(-t1 // C)
            for i, n in enumerate(range(n0, n1)):
                rows, out = slice(i * BH, (i + 1) * BH), slice(n * BH, (n + 1) * BH)
                baddbmm_into(delta[out], x.U[rows], x.W[rows], states[n], alpha=-1)
                S = states[n] if decay is None else states[n] * decay[rows, None, None]
                baddbmm_into(states[n + 1], S, k_dec[rows].mT, delta[out])
            D = delta[n0 * BH : n1 * BH]
            scatter(torch.baddbmm(x.P @ D, q_dec, states[n0:n1].flatten(0, 1)), o, t0, t1)
        ctx.C, ctx.scale = C, scale
        ctx.save_for_backward(q, k, v, beta, g, states, delta)
        return o, states[-1]

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, d_o: Tensor, d_final: Tensor) -> tuple[Tensor | None, ...]:
        q, k, v, beta, g, states, delta = ctx.saved_tensors
        C = ctx.C
        B, T, H, _ = q.shape
        BH = B * H
        grads = [None if x is None else torch.empty_like(x) for x in (q, k, v, beta, g)]
        d_S = d_final.contiguous()
        for t0, t1 in reversed(chunk_blocks(T, C, BH)):
            inputs = [
                gather(q, t0, t1, C, ctx.scale),
                *(gather(x, t0, t1, C) for x in (k, v, beta)),
            ]
            x = _intra(*inputs, None if g is None else gather(g, t0, t1, C))
            q_dec, k_dec = _decayed(x, inputs[0], inputs[1])
            decay = _decays(x)
            n0, n1 = t0 // C, -(-t1 // C)
            S_in, D = states[n0:n1].flatten(0, 1), delta[n0 * BH : n1 * BH]
            d_O = gather(d_o, t0, t1, C)
            d_delta = torch.bmm(x.P.mT, d_O)  # gains K̃ ∂S' in the loop
            d_S_out = torch.bmm(q_dec.mT, d_O)
            d_after = torch.empty_like(S_in)  # ∂ of the state leaving each chunk
            for i in reversed(range(n1 - n0)):
                rows = slice(i * BH, (i + 1) * BH)
                d_after[rows] = d_S
                baddbmm_into(d_delta[rows], d_delta[rows], k_dec[rows], d_S)
                carried = d_S if decay is None else d_S * decay[rows, None, None]
                d_S = torch.baddbmm(d_S_out[rows] + carried, x.W[rows].mT, d_delta[rows], alpha=-1)
            block_grads = _intra_backward(
                x, *inputs,
                d_U=d_delta, d_W=-(d_delta @ S_in.mT), d_P=d_O @ D.mT, d_q_dec=d_O @ S_in.mT,
                d_k_dec=D @ d_after.mT,
                d_decay=None if decay is None else (d_after * S_in).sum((-2, -1)),
            )  # fmt: skip
            for out, grad, scale in zip(
                grads, block_grads, (ctx.scale,) + (None,) * 4, strict=True
            ):
                if out is not None:
                    scatter(grad, out, t0, t1, scale)
        return *grads, d_S, None, None


def chunk_delta(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    beta: Tensor,
    state: Tensor,
    *,
    chunk_size: int,
    scale: float,
    g: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Chunk form of ``delta`` (``g = None``) and ``gated_delta``, in the rule layout."""
    if beta.dim() == 4:
        return per_channel_as_heads(
            chunk_delta, q, k, v, beta, state, chunk_size=chunk_size, scale=scale, g=g
        )
    B, _, H, K = q.shape
    V = v.shape[-1]
    o, S = _ChunkDelta.apply(q, k, v, beta, g, state.reshape(B * H, K, V), chunk_size, scale)
    return o, S.view(B, H, K, V)
