"""FLOP counts of the learning-rule forms and of causal softmax attention, for GFLOP/s columns.

Convention: a matmul of [m, k] @ [k, n] counts 2·m·n·k FLOPs; elementwise work (gates, β scaling,
exponentials, masks) is not counted. Chunk formulas are per chunk per head, with chunk size C, key
dim K and value dim V, and are multiplied by B·H·ceil(T/C): a partial last chunk counts as a full
one, because the chunk forms pad to whole chunks. The chunk counts are the products the
implementation executes (a test holds them equal to `torch.utils.flop_counter`), including the
recompute of the intra-chunk part that the chunk backward does instead of storing it.

These are the numbers behind `%ceil` in `fastweights.commands.bench_ops`;
`benchmarks/README.md` restates them. Change them here only, with the README.
"""

from __future__ import annotations

import math

MODES = ("fwd", "fwdbwd")

# Which algorithm's count a form is charged with. The Triton kernels and fla's kernels execute
# somewhat different products (e.g. a forward-substitution inverse): they are charged the PyTorch
# form's count, so their GFLOP/s is an effective rate, comparable across forms.
FORM_ALGORITHM = {
    "recurrent": "recurrent",
    "chunk": "chunk",
    "triton_chunk": "chunk",
    "triton_recurrent": "recurrent",
    "fla_chunk": "chunk",
    "fla_recurrent": "recurrent",
}

# Recurrent form, forward, per token per head, as a multiple of K·V.
# sum: S += k vᵀ (2KV), o = Sᵀq (2KV). delta-type rules add the read-out Sᵀk before the write (2KV).
RECURRENT_KV_FACTOR = {"sum": 4, "delta": 6, "gated_delta": 6, "oja": 6}


def algorithm(rule: str, form: str) -> str | None:
    """The algorithm ("chunk" or "recurrent") whose count `rule`'s `form` is charged with: a
    form's name says its algorithm, the same for every rule."""
    return FORM_ALGORITHM.get(form)


def unit_lower_inverse_flops(n: int, block: int = 16) -> int:
    """Products in ``fastweights.ops.rules.triangular.unit_lower_inverse`` for an ``n × n`` matrix.

    ``n`` is padded to ``nb`` blocks of ``b = min(n, 16)``. Diagonal blocks: 2 products of b³
    per doubling step, ⌈log₂ b⌉ − 1 steps each. Block row i: ``A_{i,<i} T_{<i,<i}`` (2b(ib)²)
    and ``T_ii (...)`` (2b²·ib). For n = 64: 196608 + 163840 = 360448 ≈ 1.375·64³.
    """
    b = min(n, block)
    nb = -(-n // b)
    diagonal = nb * 4 * b**3 * max(0, math.ceil(math.log2(b)) - 1)
    rows = sum(2 * b * (i * b) ** 2 + 2 * b * b * (i * b) for i in range(1, nb))
    return diagonal + rows


def delta_chunk_fwd(C: int, K: int, V: int) -> int:
    """Forward of one chunk of the delta / gated delta rule: 6C²K + 4C²V + 6CKV + inv(C).

    K Kᵀ and Q Kᵀ (2C²K each); T = (I + A)⁻¹ (inv(C)); W = T·βK (2C²K) and U = T·βV (2C²V); the
    sequential chunk loop W·S and K̃ᵀ·Δ (2CKV each); the outputs Q̃·S (2CKV) and P·Δ (2C²V).
    """
    return 6 * C * C * K + 4 * C * C * V + 6 * C * K * V + unit_lower_inverse_flops(C)


def delta_chunk_bwd(C: int, K: int, V: int) -> int:
    """Backward of one chunk of the delta / gated delta rule: 18C²K + 10C²V + 12CKV + inv(C).

    Recompute of the intra-chunk part (6C²K + 2C²V + inv(C)); Pᵀ·∂O, ∂O·Δᵀ (2C²V each);
    Q̃ᵀ·∂O, ∂O·Sᵀ, ∂Δ·Sᵀ, Δ·∂S'ᵀ and the loop's K̃·∂S', Wᵀ·∂Δ (2CKV each); through T:
    Tᵀ·∂U, ∂R_v·Uᵀ (2C²V each) and Tᵀ·∂W, ∂R_k·Wᵀ (2C²K each); through the masked products
    Z·K, Zᵀ·βK, Y·K, Yᵀ·Q (2C²K each).
    """
    return 18 * C * C * K + 10 * C * C * V + 12 * C * K * V + unit_lower_inverse_flops(C)


def sum_chunk_fwd(C: int, K: int, V: int) -> int:
    """Forward of one chunk of the sum rule (linear attention): 4CKV + 2C²(K+V).

    Q·S and Kᵀ·V (2CKV each); Q Kᵀ (2C²K) and P·V (2C²V).
    """
    return 4 * C * K * V + 2 * C * C * (K + V)


def sum_chunk_bwd(C: int, K: int, V: int) -> int:
    """Backward of one chunk of the sum rule: 6C²K + 4C²V + 8CKV.

    Recompute of Q Kᵀ, then ∂(Q Kᵀ)·K and ∂(Q Kᵀ)ᵀ·Q (2C²K each); ∂O·Uᵀ and (Q Kᵀ)ᵀ·∂O
    (2C²V each); Qᵀ·∂O, K·∂S', U·∂S'ᵀ and ∂O·Sᵀ (2CKV each).
    """
    return 6 * C * C * K + 4 * C * C * V + 8 * C * K * V


def recurrent_fwd(rule: str, K: int, V: int) -> int:
    """Forward of the recurrent form, per token per head: sum 4KV; delta, gated_delta, oja 6KV."""
    return RECURRENT_KV_FACTOR[rule] * K * V


def recurrent_bwd(rule: str, K: int, V: int) -> int:
    """Backward of the recurrent form, per token per head: 2× its forward."""
    return 2 * recurrent_fwd(rule, K, V)


def sdpa_fwd(T: int, K: int, V: int) -> int:
    """Forward of causal softmax attention per head: T²(K+V).

    Q Kᵀ (2T²K) and P·V (2T²V), of which only the causal half is counted.
    """
    return T * T * (K + V)


def sdpa_bwd(T: int, K: int, V: int) -> int:
    """Backward of causal softmax attention per head: 2.5× its forward, rounded down.

    FlashAttention's count: the recompute of Q Kᵀ plus four gradient matmuls, 5 against 2.
    """
    return 5 * sdpa_fwd(T, K, V) // 2


_CHUNK = {
    "sum": (sum_chunk_fwd, sum_chunk_bwd),
    "delta": (delta_chunk_fwd, delta_chunk_bwd),
    "gated_delta": (delta_chunk_fwd, delta_chunk_bwd),
}


def op_flops(
    rule: str, form: str, mode: str, B: int, T: int, H: int, K: int, V: int, chunk_size: int
) -> int | None:
    """Total FLOPs of one call of `rule` in `form` (mode "fwd" or "fwdbwd"); None if uncounted.

    `rule` "sdpa" is the causal softmax attention baseline (its `form` is ignored). A rule or
    form without a formula here gives None, which the table shows as "n/a".
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if rule == "sdpa":
        fwd, bwd = sdpa_fwd(T, K, V), sdpa_bwd(T, K, V)
        count = B * H
    elif algorithm(rule, form) == "recurrent" and rule in RECURRENT_KV_FACTOR:
        fwd, bwd = recurrent_fwd(rule, K, V), recurrent_bwd(rule, K, V)
        count = B * H * T
    elif algorithm(rule, form) == "chunk" and rule in _CHUNK:
        fwd_fn, bwd_fn = _CHUNK[rule]
        fwd, bwd = fwd_fn(chunk_size, K, V), bwd_fn(chunk_size, K, V)
        count = B * H * math.ceil(T / chunk_size)
    else:
        return None
    return count * (fwd if mode == "fwd" else fwd + bwd)


def bmm_flops(n: int, size: int) -> int:
    """FLOPs of `torch.bmm` of [n, size, size] @ [n, size, size]: 2·n·size³."""
    return 2 * n * size**3
