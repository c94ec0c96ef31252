"""Fused recurrent kernels for the sum, delta and gated delta rules, forward and backward.

One program per (batch·head, block of ``BV`` value channels) holds its ``K × BV`` block of the
state in registers (fp32) and walks the tokens one by one::

    S̃_t = α_t S_{t-1}                  (gated: α_t = exp(g_t); else α_t = 1)
    v̄_t = S̃_tᵀ k_t                     (delta rules; the sum rule has v̄ = 0)
    u_t = β_t (v_t − v̄_t)
    S_t = S̃_t + k_t u_tᵀ,   o_t = S_tᵀ q_t

Value channels never mix, so ``β`` may be per head or per channel. The forward stores ``v̄``
(fp32) for the backward, which runs two passes and keeps no state per token or per chunk:

1. reverse, from ``∂S_T``: ``∂S_t += q_t ∂o_tᵀ``; ``∂u = ∂S_tᵀ k``; ``∂k ∋ ∂S_t u``; ``∂v = β ∂u``;
   ``∂β = ∂u ⊙ (v − v̄)``; ``∂v̄ = −β ∂u``; ``∂S̃ = ∂S_t + k ∂v̄ᵀ``; ``∂S_{t-1} = α_t ∂S̃`` —
   none of which needs a state. It stores ``∂v̄`` and ends with ``∂S_0``.
2. forward re-run from ``S_0``: the terms that need a state, ``∂q_t = S_t ∂o_t`` and
   ``∂k_t ∋ S̃_t ∂v̄_t``.

The gate needs ``∂g_t = ⟨∂S̃_t, S̃_t⟩``, a product of a state and its adjoint. It telescopes:
with ``φ_t = ⟨∂S_t, S_t⟩ = ∂o_t·o_t + ∂g_{t+1}`` and ``⟨∂S̃_t, S̃_t⟩ = φ_t − ∂u_t·u_t + ∂v̄_t·v̄_t``,

    ∂g_t = ⟨∂S_T, S_T⟩ + Σ_{s≥t} (∂o_s·o_s − ∂u_s·u_s + ∂v̄_s·v̄_s)

a reverse cumulative sum of per-token scalars (pass 1 gives the last two terms, pass 2 the first).
This gives the gated recurrent form the backward that fla's fused recurrent kernel lacks.
Products over the value channels (``∂q, ∂k``, a per-head ``∂β``, the ``∂g`` terms) come out as
one partial per value block, summed by the caller.
"""

from __future__ import annotations

import torch
from torch import Tensor

from fastweights.ops.triton.common import autotune, empty, tl, triton

# launch configs; the first is the one used without a GPU or with FASTWEIGHTS_TRITON_AUTOTUNE=0
CONFIGS = [triton.Config({}, num_warps=w) for w in (1, 2, 4, 8)]


@triton.jit
def _offsets(i_bh, T, H: tl.constexpr, K: tl.constexpr, V: tl.constexpr, i_v, BK, BV):
    """Start offsets of a (batch, head)'s row ``t = 0`` in ``[B, T, H, K]`` and ``[B, T, H, V]``."""
    i_b, i_h = i_bh // H, i_bh % H
    row = (i_b.to(tl.int64) * T) * H + i_h  # index of (b, t=0, h) in [B, T, H]
    return row, row * K + tl.arange(0, BK), row * V + i_v * BV + tl.arange(0, BV)


@triton.jit
def _state_block(i_bh, i_v, K: tl.constexpr, V: tl.constexpr, BK: tl.constexpr, BV):
    """The program's ``[BK, BV]`` block of a ``[B·H, K, V]`` state: offsets and masks, and the
    value channels ``offs_v`` with the key and value masks."""
    offs_k, offs_v = tl.arange(0, BK), i_v * BV + tl.arange(0, BV)
    mask_k, mask_v = offs_k < K, offs_v < V
    p_s = i_bh.to(tl.int64) * K * V + offs_k[:, None] * V + offs_v[None, :]
    return p_s, mask_k[:, None] & mask_v[None, :], offs_v, mask_k, mask_v


@triton.jit
def _load_rate(beta, p_b, mask_v, BETA_V: tl.constexpr):
    """``β_t``: per value channel (``BETA_V``) or one per head, as float32."""
    if BETA_V:
        return tl.load(beta + p_b, mask=mask_v, other=0.0).to(tl.float32)
    return tl.load(beta + p_b).to(tl.float32)


@autotune(CONFIGS, key=["K", "V", "BV", "DELTA", "GATED"])
@triton.jit
def recurrent_fwd_kernel(
    q, k, v, beta, g, S0, o, vbar, S_out, T, scale,
    H: tl.constexpr, K: tl.constexpr, V: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr,
    DELTA: tl.constexpr, GATED: tl.constexpr, BETA_V: tl.constexpr, STORE_VBAR: tl.constexpr,
):  # fmt: skip
    i_v, i_bh = tl.program_id(0), tl.program_id(1)
    row, p_k, p_v = _offsets(i_bh, T, H, K, V, i_v, BK, BV)
    p_s, mask_s, offs_v, mask_k, mask_v = _state_block(i_bh, i_v, K, V, BK, BV)
    S = tl.load(S0 + p_s, mask=mask_s, other=0.0).to(tl.float32)
    p_g = row
    p_b = row * V + offs_v if BETA_V else row
    for _ in range(0, T):
        b_q = tl.load(q + p_k, mask=mask_k, other=0.0).to(tl.float32) * scale
        b_k = tl.load(k + p_k, mask=mask_k, other=0.0).to(tl.float32)
        b_v = tl.load(v + p_v, mask=mask_v, other=0.0).to(tl.float32)
        b_beta = _load_rate(beta, p_b, mask_v, BETA_V)
        if GATED:
            S = S * tl.exp(tl.load(g + p_g).to(tl.float32))
        if DELTA:
            b_vbar = tl.sum(S * b_k[:, None], 0)
            if STORE_VBAR:
                tl.store(vbar + p_v, b_vbar, mask=mask_v)
            b_v = b_v - b_vbar
        S += b_k[:, None] * (b_beta * b_v)[None, :]
        b_o = tl.sum(S * b_q[:, None], 0)
        tl.store(o + p_v, b_o.to(o.dtype.element_ty), mask=mask_v)
        p_k += H * K
        p_v += H * V
        p_g += H
        p_b += H * V if BETA_V else H
    tl.store(S_out + p_s, S, mask=mask_s)


@autotune(CONFIGS, key=["K", "V", "BV", "DELTA", "GATED"])
@triton.jit
def recurrent_bwd_reverse_kernel(
    q, k, v, beta, g, vbar, d_o, d_ST, d_S0, d_k, d_v, d_beta, d_vbar, r, T, scale,
    H: tl.constexpr, K: tl.constexpr, V: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr,
    DELTA: tl.constexpr, GATED: tl.constexpr, BETA_V: tl.constexpr,
):  # fmt: skip
    """Pass 1 (t = T−1 .. 0). Partials per value block: ``d_k [NV, B, T, H, K]``, ``r`` (the
    ``−∂u·u + ∂v̄·v̄`` terms of ``∂g``) and a per-head ``d_beta`` as ``[NV, B, T, H]``."""
    i_v, i_bh = tl.program_id(0), tl.program_id(1)
    n_rows = tl.num_programs(1).to(tl.int64) // H * T * H  # B·T·H: the stride of a partial
    row, p_k, p_v = _offsets(i_bh, T, H, K, V, i_v, BK, BV)
    p_s, mask_s, offs_v, mask_k, mask_v = _state_block(i_bh, i_v, K, V, BK, BV)
    dS = tl.load(d_ST + p_s, mask=mask_s, other=0.0).to(tl.float32)
    last = T - 1
    p_k += last * H * K
    p_v += last * H * V
    p_g = row + last * H  # per-head scalars [B, T, H]
    p_b = row * V + last * H * V + offs_v if BETA_V else p_g
    for _ in range(0, T):
        b_q = tl.load(q + p_k, mask=mask_k, other=0.0).to(tl.float32) * scale
        b_k = tl.load(k + p_k, mask=mask_k, other=0.0).to(tl.float32)
        b_w = tl.load(v + p_v, mask=mask_v, other=0.0).to(tl.float32)  # v − v̄
        b_do = tl.load(d_o + p_v, mask=mask_v, other=0.0).to(tl.float32)
        b_beta = _load_rate(beta, p_b, mask_v, BETA_V)
        if DELTA:
            b_vbar = tl.load(vbar + p_v, mask=mask_v, other=0.0)
            b_w = b_w - b_vbar
        b_u = b_beta * b_w
        dS += b_q[:, None] * b_do[None, :]
        b_du = tl.sum(dS * b_k[:, None], 0)
        tl.store(d_k + i_v * n_rows * K + p_k, tl.sum(dS * b_u[None, :], 1), mask=mask_k)
        tl.store(d_v + p_v, (b_beta * b_du).to(d_v.dtype.element_ty), mask=mask_v)
        if BETA_V:
            tl.store(d_beta + p_b, (b_du * b_w).to(d_beta.dtype.element_ty), mask=mask_v)
        else:
            tl.store(d_beta + i_v * n_rows + p_g, tl.sum(b_du * b_w, 0))
        r_t = -tl.sum(b_du * b_u, 0)
        if DELTA:
            b_dvbar = -b_beta * b_du
            tl.store(d_vbar + p_v, b_dvbar, mask=mask_v)
            r_t += tl.sum(b_dvbar * b_vbar, 0)
            dS += b_k[:, None] * b_dvbar[None, :]
        if GATED:
            tl.store(r + i_v * n_rows + p_g, r_t)
            dS = dS * tl.exp(tl.load(g + p_g).to(tl.float32))
        p_k -= H * K
        p_v -= H * V
        p_g -= H
        p_b -= H * V if BETA_V else H
    tl.store(d_S0 + p_s, dS, mask=mask_s)


@autotune(CONFIGS, key=["K", "V", "BV", "DELTA", "GATED"], restore_value=["d_k", "r"])
@triton.jit
def recurrent_bwd_forward_kernel(
    q, k, v, beta, g, S0, d_o, d_vbar, d_q, d_k, r, T, scale,
    H: tl.constexpr, K: tl.constexpr, V: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr,
    DELTA: tl.constexpr, GATED: tl.constexpr, BETA_V: tl.constexpr,
):  # fmt: skip
    """Pass 2 (t = 0 .. T−1): ``d_q`` partials (scaled), adds ``S̃ ∂v̄`` to the ``d_k`` partials
    and ``∂o·o`` to ``r``, each in the entries this program wrote in pass 1."""
    i_v, i_bh = tl.program_id(0), tl.program_id(1)
    n_rows = tl.num_programs(1).to(tl.int64) // H * T * H
    row, p_k, p_v = _offsets(i_bh, T, H, K, V, i_v, BK, BV)
    p_s, mask_s, offs_v, mask_k, mask_v = _state_block(i_bh, i_v, K, V, BK, BV)
    S = tl.load(S0 + p_s, mask=mask_s, other=0.0).to(tl.float32)
    p_g = row
    p_b = row * V + offs_v if BETA_V else row
    for _ in range(0, T):
        b_q = tl.load(q + p_k, mask=mask_k, other=0.0).to(tl.float32) * scale
        b_k = tl.load(k + p_k, mask=mask_k, other=0.0).to(tl.float32)
        b_v = tl.load(v + p_v, mask=mask_v, other=0.0).to(tl.float32)
        b_do = tl.load(d_o + p_v, mask=mask_v, other=0.0).to(tl.float32)
        b_beta = _load_rate(beta, p_b, mask_v, BETA_V)
        if GATED:
            S = S * tl.exp(tl.load(g + p_g).to(tl.float32))
        if DELTA:
            b_dvbar = tl.load(d_vbar + p_v, mask=mask_v, other=0.0)
            p_dk = d_k + i_v * n_rows * K + p_k
            tl.store(
                p_dk, tl.load(p_dk, mask=mask_k) + tl.sum(S * b_dvbar[None, :], 1), mask=mask_k
            )
            b_v = b_v - tl.sum(S * b_k[:, None], 0)
        S += b_k[:, None] * (b_beta * b_v)[None, :]
        b_dq = tl.sum(S * b_do[None, :], 1)  # ∂(scaled q)
        tl.store(d_q + i_v * n_rows * K + p_k, b_dq * scale, mask=mask_k)
        if GATED:
            p_r = r + i_v * n_rows + p_g
            tl.store(p_r, tl.load(p_r) + tl.sum(b_dq * b_q, 0))  # ∂o·o = q·(S ∂o)
        p_k += H * K
        p_v += H * V
        p_g += H
        p_b += H * V if BETA_V else H


def _blocks(K: int, V: int) -> tuple[int, int]:
    """The whole key dimension in one block; value blocks of at most 32 channels."""
    return triton.next_power_of_2(K), min(triton.next_power_of_2(V), 32)


def recurrent_fwd(
    q: Tensor, k: Tensor, v: Tensor, beta: Tensor, g: Tensor | None, S0: Tensor, scale: float,
    *, delta: bool, store_vbar: bool,
) -> tuple[Tensor, Tensor, Tensor | None]:  # fmt: skip
    """``o [B, T, H, V]`` (dtype of ``v``), ``S_T [B, H, K, V]`` fp32 and ``v̄`` (fp32, delta
    rules and ``store_vbar`` only). Inputs contiguous ``[B, T, H, D]``; ``q`` unscaled."""
    B, T, H, K = q.shape
    V = v.shape[-1]
    BK, BV = _blocks(K, V)
    o = empty(B, T, H, V, dtype=v.dtype, device=v.device)
    S = empty(B, H, K, V, dtype=torch.float32, device=v.device)
    vbar = empty(B, T, H, V, dtype=torch.float32, device=v.device) if delta and store_vbar else None
    grid = (triton.cdiv(V, BV), B * H)
    recurrent_fwd_kernel[grid](
        q, k, v, beta, q if g is None else g, S0, o, o if vbar is None else vbar, S, T, scale,
        H=H, K=K, V=V, BK=BK, BV=BV, DELTA=delta, GATED=g is not None,
        BETA_V=beta.dim() == 4, STORE_VBAR=vbar is not None,
    )  # fmt: skip
    return o, S, vbar


def recurrent_bwd(
    q: Tensor, k: Tensor, v: Tensor, beta: Tensor, g: Tensor | None, S0: Tensor,
    vbar: Tensor | None, S_T: Tensor, d_o: Tensor, d_ST: Tensor, scale: float, *, delta: bool,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor | None, Tensor]:  # fmt: skip
    """Gradients ``(∂q, ∂k, ∂v, ∂β, ∂g, ∂S_0)`` in the dtypes of the inputs (``∂S_0`` fp32)."""
    B, T, H, K = q.shape
    V = v.shape[-1]
    BK, BV = _blocks(K, V)
    NV = triton.cdiv(V, BV)
    device, f32 = v.device, torch.float32
    per_channel, gated = beta.dim() == 4, g is not None
    d_q = empty(NV, B, T, H, K, dtype=f32, device=device)
    d_k = empty(NV, B, T, H, K, dtype=f32, device=device)
    d_v = empty(B, T, H, V, dtype=v.dtype, device=device)
    if per_channel:
        d_beta = empty(B, T, H, V, dtype=beta.dtype, device=device)
    else:
        d_beta = empty(NV, B, T, H, dtype=f32, device=device)
    d_vbar = empty(B, T, H, V, dtype=f32, device=device) if delta else d_v
    r = empty(NV, B, T, H, dtype=f32, device=device) if gated else d_v
    d_S0 = empty(B, H, K, V, dtype=f32, device=device)
    grid = (NV, B * H)
    flags = {"H": H, "K": K, "V": V, "BK": BK, "BV": BV, "DELTA": delta, "GATED": gated}
    g_ = q if g is None else g
    recurrent_bwd_reverse_kernel[grid](
        q, k, v, beta, g_, d_v if vbar is None else vbar, d_o, d_ST, d_S0, d_k, d_v, d_beta,
        d_vbar, r, T, scale, BETA_V=per_channel, **flags,
    )  # fmt: skip
    recurrent_bwd_forward_kernel[grid](
        q, k, v, beta, g_, S0, d_o, d_vbar, d_q, d_k, r, T, scale, BETA_V=per_channel, **flags
    )
    d_g = None
    if gated:
        # ∂g_t = ⟨∂S_T, S_T⟩ + Σ_{s≥t} r_s: r [NV, B, T, H] -> [B, T, H]
        # (summed in float64: the sum runs over the whole sequence)
        r = r.sum(0, dtype=torch.float64)
        d_g = r.flip(1).cumsum(1).flip(1) + (d_ST * S_T).sum((-2, -1)).unsqueeze(1)
        d_g = d_g.to(g.dtype)
    if not per_channel:
        d_beta = d_beta.sum(0).to(beta.dtype)
    return d_q.sum(0).to(q.dtype), d_k.sum(0).to(k.dtype), d_v, d_beta, d_g, d_S0
