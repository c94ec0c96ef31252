"""The sum (Hebbian) rule: linear attention, the outer-product fast weight programmer.

    S_t = S_{t-1} + β_t k_t v_tᵀ          (paper: W_t = W_{t-1} + v_t ⊗ k_t, W = Sᵀ)
    o_t = S_tᵀ q_t

Schmidhuber 1992 ("Learning to control fast-weight memories"); Katharopoulos et al. 2020
(arXiv:2006.16236); Schlag, Irie, Schmidhuber 2021 (arXiv:2102.11174). ``β`` scales each write
(per head, or per value channel); with ``β = 1`` this is unnormalised causal linear attention.

Chunk form: per chunk ``n`` of ``C`` tokens entered with state ``S_n``, with ``U = β ⊙ V``,
``O_n = Q_n S_n + tril(Q_n K_nᵀ) U_n`` and ``S_{n+1} = S_n + K_nᵀ U_n``, in blocks of chunks as in
``fastweights.ops.rules.delta_chunk``. The backward is written by hand and keeps the inputs
and the ``N = T/C`` chunk states, not one state per token::

    ∂S_n = ∂S_{n+1} + Q_nᵀ ∂O_n,    ∂U_n = tril(Q_n K_nᵀ)ᵀ ∂O_n + K_n ∂S_{n+1},
    ∂Q_n = ∂O_n S_nᵀ + Y_n K_n,     ∂K_n = U_n ∂S_{n+1}ᵀ + Y_nᵀ Q_n,    Y_n = tril(∂O_n U_nᵀ)

Forms: ``recurrent``, ``chunk``; kernel form ``triton_recurrent`` (the fused recurrent kernel;
there is no chunk kernel for this rule).
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.autograd.function import FunctionCtx, once_differentiable

from fastweights.ops.rule import LearningRule, RuleSpec, recurrent, value_rate
from fastweights.ops.rules.chunking import baddbmm_into, chunk_blocks, gather, scatter


def step(S: Tensor, q_t: Tensor, k_t: Tensor, v_t: Tensor, beta_t: Tensor) -> tuple[Tensor, Tensor]:
    """One token: ``S [B,H,K,V]``; ``q_t, k_t [B,H,K]``; ``v_t [B,H,V]``; ``beta_t [B,H(,V)]``.

    ``q_t`` comes scaled. Returns ``(o_t [B, H, V], S_t)``.
    """
    S = S + k_t.unsqueeze(-1) * (value_rate(beta_t, v_t) * v_t).unsqueeze(-2)
    return (q_t.unsqueeze(-2) @ S).squeeze(-2), S


class _ChunkSum(torch.autograd.Function):
    """Inputs in the rule layout ``[B, T, H, D]``, ``q`` unscaled; ``S0 [B·H, K, V]``."""

    @staticmethod
    def forward(
        ctx: FunctionCtx, q: Tensor, k: Tensor, v: Tensor, beta: Tensor, S0: Tensor, C: int,
        scale: float,
    ) -> tuple[Tensor, Tensor]:  # fmt: skip
        B, T, H, _ = q.shape
        BH, N = B * H, -(-T // C)
        states = S0.new_empty(N + 1, *S0.shape)  # S_0 .. S_N, entering each chunk and the last
        states[0] = S0
        o = torch.empty_like(v)
        for t0, t1 in chunk_blocks(T, C, BH):
            qc, kc, u = _block(q, k, v, beta, t0, t1, C, scale)
            n0, n1 = t0 // C, -(-t1 // C)
            for i, n in enumerate(range(n0, n1)):
                rows = slice(i * BH, (i + 1) * BH)
                baddbmm_into(states[n + 1], states[n], kc[rows].mT, u[rows])
            causal = (qc @ kc.mT).tril_()
            scatter(torch.baddbmm(causal @ u, qc, states[n0:n1].flatten(0, 1)), o, t0, t1)
        ctx.C, ctx.scale = C, scale
        ctx.save_for_backward(q, k, v, beta, states)
        return o, states[-1]

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, d_o: Tensor, d_final: Tensor) -> tuple[Tensor | None, ...]:
        q, k, v, beta, states = ctx.saved_tensors
        C, scale = ctx.C, ctx.scale
        B, T, H, _ = q.shape
        BH = B * H
        d_q, d_k, d_v, d_beta = (torch.empty_like(x) for x in (q, k, v, beta))
        d_S = d_final.contiguous()
        for t0, t1 in reversed(chunk_blocks(T, C, BH)):
            qc, kc, u = _block(q, k, v, beta, t0, t1, C, scale)
            n0, n1 = t0 // C, -(-t1 // C)
            S_in = states[n0:n1].flatten(0, 1)
            d_O = gather(d_o, t0, t1, C)
            d_S_out = qc.mT @ d_O  # O = Q S + tril(Q Kᵀ) U
            d_after = torch.empty_like(S_in)  # ∂ of the state leaving each chunk
            for i in reversed(range(n1 - n0)):
                rows = slice(i * BH, (i + 1) * BH)
                d_after[rows] = d_S
                d_S = d_S + d_S_out[rows]
            d_causal = (d_O @ u.mT).tril_()
            d_u = torch.baddbmm(kc @ d_after, (qc @ kc.mT).tril_().mT, d_O)
            scatter(torch.baddbmm(d_O @ S_in.mT, d_causal, kc), d_q, t0, t1, scale)
            scatter(torch.baddbmm(u @ d_after.mT, d_causal.mT, qc), d_k, t0, t1)
            v_block, beta_block = gather(v, t0, t1, C), gather(beta, t0, t1, C)
            scatter(d_u * value_rate(beta_block, v_block), d_v, t0, t1)
            d_rate = d_u * v_block
            scatter(d_rate if beta.dim() == 4 else d_rate.sum(-1), d_beta, t0, t1)
        return d_q, d_k, d_v, d_beta, d_S, None, None


def _block(
    q: Tensor, k: Tensor, v: Tensor, beta: Tensor, t0: int, t1: int, C: int, scale: float
) -> tuple[Tensor, Tensor, Tensor]:
    """Scaled queries, keys and rated values ``β ⊙ v`` of a block, ``[G·BH, C, D]``."""
    v_block = gather(v, t0, t1, C)
    u = v_block.mul_(value_rate(gather(beta, t0, t1, C), v_block))
    return gather(q, t0, t1, C, scale), gather(k, t0, t1, C), u


def chunk(
    q: Tensor, k: Tensor, v: Tensor, beta: Tensor, state: Tensor, *, chunk_size: int, scale: float
) -> tuple[Tensor, Tensor]:
    B, _, H, K = q.shape
    o, S = _ChunkSum.apply(q, k, v, beta, state.reshape(B * H, K, -1), chunk_size, scale)
    return o, S.view(B, H, K, -1)


def triton_recurrent(*args: Tensor, **options: Tensor | int | float) -> tuple[Tensor, Tensor]:
    """The fused recurrent Triton kernel; ``fastweights.ops.triton`` is imported on first use."""
    from fastweights.ops.triton import forms

    return forms.sum_recurrent(*args, **options)


# as a layer: the linear Transformer's φ = elu + 1 with sum normalisation, and β = 1
LAYER = RuleSpec(feature_map="elu+1", norm="sum", learn_beta=False)
# no chunk kernel: the sum rule's one kernel form is the fused recurrent one
sum_rule = LearningRule(
    "sum", step, {"recurrent": recurrent(step), "chunk": chunk},
    kernels={"triton_recurrent": triton_recurrent}, layer=LAYER,
)  # fmt: skip
