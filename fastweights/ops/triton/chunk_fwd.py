"""Chunkwise (gated) delta rule kernels, forward: the WY/UT representation, chunks of ``C`` tokens.

Recurrence (``α_t = exp(g_t)``, plain delta rule: ``g = 0``)::

    S_t = α_t (I − β_t k_t k_tᵀ) S_{t-1} + β_t k_t v_tᵀ,    o_t = S_tᵀ q_t

Per chunk, with ``Γ_i = Σ_{s≤i} g_s`` and ``M = [exp(Γ_i − Γ_j)]_{j≤i}`` (Yang et al. 2024,
arXiv:2406.06484; gated: Yang, Kautz, Hatamizadeh, arXiv:2412.06464)::

    A = strict_tril(diag(β) (K Kᵀ ⊙ M)),   T = (I + A)⁻¹
    W = T diag(β e^Γ) K,   U = T diag(β) V                     (``intra``: all chunks in parallel)
    Δ = U − W S,   S' = e^{Γ_C} S + (diag(e^{Γ_C − Γ}) K)ᵀ Δ    (``state``: chunk after chunk)
    O = diag(e^Γ) Q S + tril(Q Kᵀ ⊙ M) Δ                       (``output``: all chunks in parallel)

Three kernels: ``intra`` (grid: chunks × B·H) stores ``T, W, U``; ``state`` (grid: value blocks ×
B·H) stores every chunk's entering state and ``Δ``; ``output`` (grid: value blocks × chunks ×
B·H) writes ``O``. The state, ``T, W, U, Δ`` are float32 whatever the input dtype; the products
with the state (``W S``, ``Kᵀ Δ``, ``Q S``, ``P Δ``) take operands in the input dtype (tensor cores
for bf16/fp16) with float32 accumulation; the intra-chunk products run on float32 operands
(``ieee`` for float32 inputs, ``tf32`` otherwise). ``T`` is found by forward substitution row by
row. Tokens past ``T`` (the last chunk's padding) load as zeros: ``k = 0, β = 0, g = 0`` leave the
state unchanged.
"""

from __future__ import annotations

from fastweights.ops.triton.common import autotune, tl, triton

# Launch configs, the first of each list is the one used without a GPU (the interpreter). The
# sequential state kernels run unpipelined (num_stages=1): their loop carries the state, and
# pipelined loads pushed their shared memory past an H100's 227 KB in float32 at K = V = 128.
_KEY = ["K", "V", "C", "GATED"]
PARALLEL_CONFIGS = [
    triton.Config({"BV": bv}, num_warps=w, num_stages=s)
    for bv, w, s in ((64, 4, 1), (64, 8, 1), (32, 4, 2), (32, 4, 1))
]
SEQUENTIAL_CONFIGS = [
    triton.Config({"BV": bv}, num_warps=w, num_stages=1) for bv, w in ((64, 4), (32, 4), (32, 2))
]


@triton.jit
def chunk_rows(i_bh, i_t, T, H: tl.constexpr, C: tl.constexpr):
    """Row indices into ``[B, T, H]`` of chunk ``i_t`` of (batch, head) ``i_bh``, and their mask."""
    i_b, i_h = i_bh // H, i_bh % H
    t = i_t * C + tl.arange(0, C)
    return (i_b.to(tl.int64) * T + t) * H + i_h, t < T


@triton.jit
def load_tile(ptr, rows, mask_t, D: tl.constexpr, BD: tl.constexpr, d0):
    """A ``[C, BD]`` tile of ``[B, T, H, D]`` (columns ``d0 ..``) as float32, zeros outside."""
    cols = d0 + tl.arange(0, BD)
    mask = mask_t[:, None] & (cols < D)[None, :]
    return tl.load(ptr + rows[:, None] * D + cols[None, :], mask=mask, other=0.0).to(tl.float32)


@triton.jit
def store_tile(ptr, value, rows, mask_t, D: tl.constexpr, BD: tl.constexpr, d0):
    cols = d0 + tl.arange(0, BD)
    mask = mask_t[:, None] & (cols < D)[None, :]
    tl.store(ptr + rows[:, None] * D + cols[None, :], value.to(ptr.dtype.element_ty), mask=mask)


@triton.jit
def state_offsets(i_bh, n, N, K: tl.constexpr, V: tl.constexpr, BK: tl.constexpr, BV, v0):
    """Offsets and mask of the ``[BK, BV]`` block of state ``n`` of ``[B·H, N, K, V]``."""
    offs_k, offs_v = tl.arange(0, BK), v0 + tl.arange(0, BV)
    base = (i_bh.to(tl.int64) * N + n) * K * V
    mask = (offs_k < K)[:, None] & (offs_v < V)[None, :]
    return base + offs_k[:, None] * V + offs_v[None, :], mask


@triton.jit
def load_scalars(ptr, rows, mask_t):
    return tl.load(ptr + rows, mask=mask_t, other=0.0).to(tl.float32)


@triton.jit
def load_gate(g, rows, mask_t):
    """``Γ = cumsum(g)`` of a chunk and ``Γ_C``, in float64: the differences ``Γ_i − Γ_j`` of
    float32 sums would lose ``~eps·|Γ|`` to cancellation, and a strong decay makes ``|Γ|`` large."""
    g_c = tl.load(g + rows, mask=mask_t, other=0.0).to(tl.float64)
    return tl.cumsum(g_c, 0), tl.sum(g_c, 0)


@triton.jit
def exp32(x):
    return tl.exp(x.to(tl.float32))


@triton.jit
def decay_mask(gamma, C: tl.constexpr):
    """``M_ij = exp(Γ_i − Γ_j)`` for ``j ≤ i``, else 0 (the exponent masked before ``exp``)."""
    o_i = tl.arange(0, C)
    causal = o_i[:, None] >= o_i[None, :]
    return tl.where(causal, exp32(tl.where(causal, gamma[:, None] - gamma[None, :], 0.0)), 0.0)


@triton.jit
def unit_lower_inverse(A, C: tl.constexpr):
    """``(I + A)⁻¹`` of a strictly lower-triangular ``A [C, C]`` by forward substitution:
    ``X = T − I`` has rows ``X_i = −A_i − Σ_{j<i} A_ij X_j``."""
    o_i = tl.arange(0, C)
    X = -A
    for i in range(1, C):
        row = tl.sum(tl.where(o_i[:, None] == i, X, 0.0), 0)  # −A_i; zero for columns ≥ i
        row += tl.sum(row[:, None] * X, 0)  # rows j < i of X are final, the others meet zeros
        X = tl.where(o_i[:, None] == i, row[None, :], X)
    return X + tl.where(o_i[:, None] == o_i[None, :], 1.0, 0.0)


@triton.jit
def intra_inverse(k_c, b_beta, gamma, C: tl.constexpr, GATED: tl.constexpr, PREC: tl.constexpr):
    """``T = (I + strict_tril(diag(β)(K Kᵀ ⊙ M)))⁻¹`` of one chunk, and ``M`` (ones if ungated)."""
    o_i = tl.arange(0, C)
    A = tl.dot(k_c * b_beta[:, None], tl.trans(k_c), input_precision=PREC)
    M = decay_mask(gamma, C) if GATED else tl.where(o_i[:, None] >= o_i[None, :], 1.0, 0.0)
    A = tl.where(o_i[:, None] > o_i[None, :], A * M, 0.0)
    return unit_lower_inverse(A, C), M


@autotune(PARALLEL_CONFIGS, key=_KEY)
@triton.jit
def chunk_fwd_intra_kernel(
    k, v, beta, g, Tinv, W, U, T,
    H: tl.constexpr, K: tl.constexpr, V: tl.constexpr, C: tl.constexpr, BK: tl.constexpr,
    BV: tl.constexpr, GATED: tl.constexpr, PREC: tl.constexpr,
):  # fmt: skip
    i_t, i_bh = tl.program_id(0), tl.program_id(1)
    rows, mask_t = chunk_rows(i_bh, i_t, T, H, C)
    k_c = load_tile(k, rows, mask_t, K, BK, 0)
    b_beta = load_scalars(beta, rows, mask_t)
    gamma = load_gate(g, rows, mask_t)[0] if GATED else b_beta
    T_c, _ = intra_inverse(k_c, b_beta, gamma, C, GATED, PREC)
    store_tile(Tinv, T_c, rows, mask_t, C, C, 0)
    rate = b_beta * exp32(gamma) if GATED else b_beta
    store_tile(W, tl.dot(T_c, k_c * rate[:, None], input_precision=PREC), rows, mask_t, K, BK, 0)
    for i_v in range(0, tl.cdiv(V, BV)):
        v_c = load_tile(v, rows, mask_t, V, BV, i_v * BV)
        u_c = tl.dot(T_c, v_c * b_beta[:, None], input_precision=PREC)
        store_tile(U, u_c, rows, mask_t, V, BV, i_v * BV)


@autotune(SEQUENTIAL_CONFIGS, key=_KEY)
@triton.jit
def chunk_fwd_state_kernel(
    k, g, W, U, S0, states, delta, S_out, T,
    H: tl.constexpr, K: tl.constexpr, V: tl.constexpr, C: tl.constexpr, BK: tl.constexpr,
    BV: tl.constexpr, GATED: tl.constexpr, PREC: tl.constexpr,
):  # fmt: skip
    i_v, i_bh = tl.program_id(0), tl.program_id(1)
    v0 = i_v * BV
    DT = k.dtype.element_ty  # operand dtype of the products with the state
    N = tl.cdiv(T, C)
    p_s, mask_s = state_offsets(i_bh, 0, 1, K, V, BK, BV, v0)
    S = tl.load(S0 + p_s, mask=mask_s, other=0.0).to(tl.float32)
    for i_t in range(0, N):
        p_n, _ = state_offsets(i_bh, i_t, N, K, V, BK, BV, v0)
        tl.store(states + p_n, S, mask=mask_s)
        rows, mask_t = chunk_rows(i_bh, i_t, T, H, C)
        w_c = load_tile(W, rows, mask_t, K, BK, 0)
        d_c = load_tile(U, rows, mask_t, V, BV, v0)
        d_c -= tl.dot(w_c.to(DT), S.to(DT), input_precision=PREC)  # Δ = U − W S
        store_tile(delta, d_c, rows, mask_t, V, BV, v0)
        k_c = load_tile(k, rows, mask_t, K, BK, 0)
        if GATED:
            gamma, gamma_C = load_gate(g, rows, mask_t)
            k_c *= exp32(gamma_C - gamma)[:, None]
            S *= exp32(gamma_C)
        S += tl.dot(tl.trans(k_c).to(DT), d_c.to(DT), input_precision=PREC)
    tl.store(S_out + p_s, S, mask=mask_s)


@autotune(PARALLEL_CONFIGS, key=_KEY)
@triton.jit
def chunk_fwd_output_kernel(
    q, k, g, states, delta, o, T, scale,
    H: tl.constexpr, K: tl.constexpr, V: tl.constexpr, C: tl.constexpr, BK: tl.constexpr,
    BV: tl.constexpr, GATED: tl.constexpr, PREC: tl.constexpr,
):  # fmt: skip
    i_v, i_t, i_bh = tl.program_id(0), tl.program_id(1), tl.program_id(2)
    v0 = i_v * BV
    DT = q.dtype.element_ty
    rows, mask_t = chunk_rows(i_bh, i_t, T, H, C)
    q_c = load_tile(q, rows, mask_t, K, BK, 0) * scale
    k_c = load_tile(k, rows, mask_t, K, BK, 0)
    o_i = tl.arange(0, C)
    P = tl.dot(q_c.to(DT), tl.trans(k_c).to(DT), input_precision=PREC)
    if GATED:
        gamma, _ = load_gate(g, rows, mask_t)
        P *= decay_mask(gamma, C)
        q_c *= exp32(gamma)[:, None]
    P = tl.where(o_i[:, None] >= o_i[None, :], P, 0.0)
    p_n, mask_s = state_offsets(i_bh, i_t, tl.cdiv(T, C), K, V, BK, BV, v0)
    S = tl.load(states + p_n, mask=mask_s, other=0.0)
    d_c = load_tile(delta, rows, mask_t, V, BV, v0)
    out = tl.dot(q_c.to(DT), S.to(DT), input_precision=PREC)
    out += tl.dot(P.to(DT), d_c.to(DT), input_precision=PREC)
    store_tile(o, out, rows, mask_t, V, BV, v0)
