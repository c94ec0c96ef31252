"""Chunkwise (gated) delta rule kernels, backward (the forward and its notation: ``chunk_fwd``).

Two kernels, the reverse of the forward's ``state`` and ``intra`` + ``output``:

``state`` (grid: value blocks × B·H), chunk ``N−1`` down to ``0``, from ``∂S_N`` = the final
state's gradient; stores ``∂S_{n+1}`` (the gradient of the state leaving chunk ``n``) and ``∂Δ``::

    ∂Δ  = tril(Q Kᵀ ⊙ M)ᵀ ∂O + K̃ ∂S_{n+1}              K̃ = diag(e^{Γ_C − Γ}) K
    ∂S_n = Q̃ᵀ ∂O + e^{Γ_C} ∂S_{n+1} − Wᵀ ∂Δ             Q̃ = diag(e^Γ) Q

``intra`` (grid: chunks × B·H) differentiates the chunk by hand, as
``fastweights.ops.rules.delta_chunk._intra_backward`` does, looping over the value blocks to gather
``∂W = −∂Δ S_nᵀ``, ``∂P = ∂O Δᵀ``, ``∂Q̃ = ∂O S_nᵀ``, ``∂K̃ = Δ ∂S_{n+1}ᵀ``,
``∂e^{Γ_C} = ⟨∂S_{n+1}, S_n⟩`` and, per value block, ``∂R_v = Tᵀ ∂U`` (``∂v = β ∂R_v``). Then with
``∂R_k = Tᵀ ∂W``, ``Z = −strict_tril(∂R_v Uᵀ + ∂R_k Wᵀ) ⊙ M`` and ``Y = tril(∂P) ⊙ M``::

    ∂k = β ⊙ Z K + Zᵀ (βK) + Yᵀ Q + ∂R_k ⊙ β e^Γ + ∂K̃ ⊙ e^{Γ_C − Γ}
    ∂q = Y K + ∂Q̃ ⊙ e^Γ,    ∂β = Σ_v ∂R_v ⊙ V + rowsum(Z K ⊙ K) + (∂R_k · K) e^Γ

and ``∂Γ`` from every ``exp`` of it, summed backwards over the chunk into ``∂g``.
"""

from __future__ import annotations

from fastweights.ops.triton.chunk_fwd import (
    PARALLEL_CONFIGS,
    SEQUENTIAL_CONFIGS,
    chunk_rows,
    decay_mask,
    exp32,
    load_gate,
    load_scalars,
    load_tile,
    state_offsets,
    store_tile,
)
from fastweights.ops.triton.common import autotune, tl, triton

_KEY = ["K", "V", "C", "GATED"]


@autotune(SEQUENTIAL_CONFIGS, key=_KEY)
@triton.jit
def chunk_bwd_state_kernel(
    q, k, g, W, d_o, d_ST, d_after, d_delta, d_S0, T, scale,
    H: tl.constexpr, K: tl.constexpr, V: tl.constexpr, C: tl.constexpr, BK: tl.constexpr,
    BV: tl.constexpr, GATED: tl.constexpr, PREC: tl.constexpr,
):  # fmt: skip
    i_v, i_bh = tl.program_id(0), tl.program_id(1)
    v0 = i_v * BV
    DT = q.dtype.element_ty
    N = tl.cdiv(T, C)
    o_i = tl.arange(0, C)
    p_s, mask_s = state_offsets(i_bh, 0, 1, K, V, BK, BV, v0)
    dS = tl.load(d_ST + p_s, mask=mask_s, other=0.0).to(tl.float32)
    for i in range(0, N):
        i_t = N - 1 - i
        p_n, _ = state_offsets(i_bh, i_t, N, K, V, BK, BV, v0)
        tl.store(d_after + p_n, dS, mask=mask_s)
        rows, mask_t = chunk_rows(i_bh, i_t, T, H, C)
        q_c = load_tile(q, rows, mask_t, K, BK, 0) * scale
        k_c = load_tile(k, rows, mask_t, K, BK, 0)
        do_c = load_tile(d_o, rows, mask_t, V, BV, v0)
        P = tl.dot(q_c.to(DT), tl.trans(k_c).to(DT), input_precision=PREC)
        if GATED:
            gamma, gamma_C = load_gate(g, rows, mask_t)
            P *= decay_mask(gamma, C)
            k_c *= exp32(gamma_C - gamma)[:, None]
            q_c *= exp32(gamma)[:, None]
        P = tl.where(o_i[:, None] >= o_i[None, :], P, 0.0)
        dd_c = tl.dot(tl.trans(P).to(DT), do_c.to(DT), input_precision=PREC)
        dd_c += tl.dot(k_c.to(DT), dS.to(DT), input_precision=PREC)
        store_tile(d_delta, dd_c, rows, mask_t, V, BV, v0)
        if GATED:
            dS *= exp32(gamma_C)
        dS += tl.dot(tl.trans(q_c).to(DT), do_c.to(DT), input_precision=PREC)
        w_c = load_tile(W, rows, mask_t, K, BK, 0)
        dS -= tl.dot(tl.trans(w_c).to(DT), dd_c.to(DT), input_precision=PREC)
    tl.store(d_S0 + p_s, dS, mask=mask_s)


@autotune(PARALLEL_CONFIGS, key=_KEY)
@triton.jit
def chunk_bwd_intra_kernel(
    q, k, v, beta, g, Tinv, W, U, states, d_after, delta, d_delta, d_o,
    d_q, d_k, d_v, d_beta, d_g, T, scale,
    H: tl.constexpr, K: tl.constexpr, V: tl.constexpr, C: tl.constexpr, BK: tl.constexpr,
    BV: tl.constexpr, GATED: tl.constexpr, PREC: tl.constexpr,
):  # fmt: skip
    i_t, i_bh = tl.program_id(0), tl.program_id(1)
    N = tl.cdiv(T, C)
    o_i = tl.arange(0, C)
    rows, mask_t = chunk_rows(i_bh, i_t, T, H, C)
    T_c = load_tile(Tinv, rows, mask_t, C, C, 0)
    b_beta = load_scalars(beta, rows, mask_t)
    d_W = tl.zeros([C, BK], dtype=tl.float32)
    d_qdec = tl.zeros([C, BK], dtype=tl.float32)
    d_kdec = tl.zeros([C, BK], dtype=tl.float32)
    d_P = tl.zeros([C, C], dtype=tl.float32)
    ZU = tl.zeros([C, C], dtype=tl.float32)  # ∂R_v Uᵀ
    db = tl.zeros([C], dtype=tl.float32)
    d_decay = 0.0
    for i_v in range(0, tl.cdiv(V, BV)):
        v0 = i_v * BV
        p_n, mask_s = state_offsets(i_bh, i_t, N, K, V, BK, BV, v0)
        S = tl.load(states + p_n, mask=mask_s, other=0.0)
        dA = tl.load(d_after + p_n, mask=mask_s, other=0.0)
        d_c = load_tile(delta, rows, mask_t, V, BV, v0)
        dd_c = load_tile(d_delta, rows, mask_t, V, BV, v0)
        do_c = load_tile(d_o, rows, mask_t, V, BV, v0)
        d_W -= tl.dot(dd_c, tl.trans(S), input_precision=PREC)
        d_P += tl.dot(do_c, tl.trans(d_c), input_precision=PREC)
        d_qdec += tl.dot(do_c, tl.trans(S), input_precision=PREC)
        d_kdec += tl.dot(d_c, tl.trans(dA), input_precision=PREC)
        d_decay += tl.sum(tl.sum(dA * S, 1), 0)
        d_Rv = tl.dot(tl.trans(T_c), dd_c, input_precision=PREC)  # ∂U = ∂Δ
        store_tile(d_v, d_Rv * b_beta[:, None], rows, mask_t, V, BV, v0)
        db += tl.sum(d_Rv * load_tile(v, rows, mask_t, V, BV, v0), 1)
        ZU += tl.dot(d_Rv, tl.trans(load_tile(U, rows, mask_t, V, BV, v0)), input_precision=PREC)
    q_c = load_tile(q, rows, mask_t, K, BK, 0) * scale
    k_c = load_tile(k, rows, mask_t, K, BK, 0)
    d_Rk = tl.dot(tl.trans(T_c), d_W, input_precision=PREC)
    w_c = load_tile(W, rows, mask_t, K, BK, 0)
    Z = -(ZU + tl.dot(d_Rk, tl.trans(w_c), input_precision=PREC))
    Z = tl.where(o_i[:, None] > o_i[None, :], Z, 0.0)
    Y = tl.where(o_i[:, None] >= o_i[None, :], d_P, 0.0)
    if GATED:
        gamma, gamma_C = load_gate(g, rows, mask_t)
        M = decay_mask(gamma, C)
        Z *= M
        Y *= M
    Z_k = tl.dot(Z, k_c, input_precision=PREC)
    Zt_k = tl.dot(tl.trans(Z), k_c * b_beta[:, None], input_precision=PREC)
    Y_k = tl.dot(Y, k_c, input_precision=PREC)
    Yt_q = tl.dot(tl.trans(Y), q_c, input_precision=PREC)
    z_dot_k = tl.sum(Z_k * k_c, 1)
    db += z_dot_k
    dk = Z_k * b_beta[:, None] + Zt_k + Yt_q
    d_wrhs = tl.sum(d_Rk * k_c, 1)  # ∂ of the rate of W's right-hand side, β e^Γ
    if GATED:
        e = exp32(gamma)
        f = exp32(gamma_C - gamma)
        dk += d_Rk * (b_beta * e)[:, None] + d_kdec * f[:, None]
        dq = Y_k + d_qdec * e[:, None]
        db += d_wrhs * e
        # ∂Γ from e^Γ (W's rate, Q̃), e^{Γ_C − Γ} (K̃) and M (rows minus columns of ∂M ⊙ M)
        D_rows = z_dot_k * b_beta + tl.sum(Y_k * q_c, 1)
        D_cols = tl.sum((Zt_k + Yt_q) * k_c, 1)
        d_f = tl.sum(d_kdec * k_c, 1) * f
        d_gamma = (d_wrhs * b_beta + tl.sum(d_qdec * q_c, 1)) * e - d_f + D_rows - D_cols
        d_gamma += tl.where(o_i == C - 1, d_decay * exp32(gamma_C) + tl.sum(d_f, 0), 0.0)
        d_g_c = tl.cumsum(d_gamma.to(tl.float64), 0, reverse=True)  # Γ = cumsum(g)
        tl.store(d_g + rows, d_g_c.to(d_g.dtype.element_ty), mask=mask_t)
    else:
        dk += d_Rk * b_beta[:, None] + d_kdec
        dq = Y_k + d_qdec
        db += d_wrhs
    store_tile(d_q, dq * scale, rows, mask_t, K, BK, 0)
    store_tile(d_k, dk, rows, mask_t, K, BK, 0)
    tl.store(d_beta + rows, db.to(d_beta.dtype.element_ty), mask=mask_t)
