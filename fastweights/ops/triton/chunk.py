"""Launchers of the chunkwise (gated) delta rule kernels (``chunk_fwd``, ``chunk_bwd``).

Inputs contiguous ``[B, T, H, D]`` in one of the kernel dtypes, ``beta`` and ``g`` ``[B, T, H]``,
``S0 [B, H, K, V]`` float32, ``q`` unscaled. The forward returns, besides ``o`` and the final
state, what the backward reuses: ``T = (I + A)⁻¹`` and ``W, U`` of every chunk, the chunk states
``[B, H, N, K, V]`` and ``Δ`` (all float32).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from fastweights.ops.triton.chunk_bwd import chunk_bwd_intra_kernel, chunk_bwd_state_kernel
from fastweights.ops.triton.chunk_fwd import (
    chunk_fwd_intra_kernel,
    chunk_fwd_output_kernel,
    chunk_fwd_state_kernel,
)
from fastweights.ops.triton.common import empty, next_power_of_2, triton

CHUNK_SIZES = (16, 32, 64)
MAX_KEY_DIM = 256  # one key block per program


def check_chunk_kernel_shapes(rule: str, K: int, chunk_size: int) -> None:
    if chunk_size not in CHUNK_SIZES:
        raise ValueError(
            f"{rule}: the Triton chunk kernels take chunk_size in {CHUNK_SIZES}, got {chunk_size}"
        )
    if K > MAX_KEY_DIM:
        raise ValueError(f"{rule}: the Triton chunk kernels take K <= {MAX_KEY_DIM}, got K={K}")


def _meta(q: Tensor, v: Tensor, g: Tensor | None, C: int) -> dict[str, object]:
    K, V = q.shape[-1], v.shape[-1]
    return {
        "H": q.shape[2], "K": K, "V": V, "C": C, "BK": next_power_of_2(K), "GATED": g is not None,
        # float32 inputs keep float32 products; bf16/fp16 inputs allow tf32 in the fp32 parts
        "PREC": "ieee" if q.dtype == torch.float32 else "tf32",
    }  # fmt: skip


def _blocks_of_v(V: int, *rest: int) -> Callable[[dict[str, object]], tuple[int, ...]]:
    """A launch grid whose first axis covers ``V`` in blocks of the tuned ``BV``."""
    return lambda meta: (triton.cdiv(V, meta["BV"]), *rest)


def chunk_fwd(
    q: Tensor, k: Tensor, v: Tensor, beta: Tensor, g: Tensor | None, S0: Tensor, scale: float,
    C: int,
) -> tuple[Tensor, ...]:  # fmt: skip
    """``(o, S_T, Tinv, W, U, states, delta)``."""
    B, T, H, K = q.shape
    V = v.shape[-1]
    N = triton.cdiv(T, C)
    meta = _meta(q, v, g, C)
    device, f32 = q.device, torch.float32
    Tinv = empty(B, T, H, C, dtype=f32, device=device)
    W = empty(B, T, H, K, dtype=f32, device=device)
    U = empty(B, T, H, V, dtype=f32, device=device)
    states = empty(B, H, N, K, V, dtype=f32, device=device)
    delta = empty(B, T, H, V, dtype=f32, device=device)
    S_T = empty(B, H, K, V, dtype=f32, device=device)
    o = empty(B, T, H, V, dtype=v.dtype, device=device)
    g_ = beta if g is None else g
    chunk_fwd_intra_kernel[(N, B * H)](k, v, beta, g_, Tinv, W, U, T, **meta)
    chunk_fwd_state_kernel[_blocks_of_v(V, B * H)](k, g_, W, U, S0, states, delta, S_T, T, **meta)
    chunk_fwd_output_kernel[_blocks_of_v(V, N, B * H)](q, k, g_, states, delta, o, T, scale, **meta)
    return o, S_T, Tinv, W, U, states, delta


def chunk_bwd(
    q: Tensor, k: Tensor, v: Tensor, beta: Tensor, g: Tensor | None, Tinv: Tensor, W: Tensor,
    U: Tensor, states: Tensor, delta: Tensor, d_o: Tensor, d_ST: Tensor, scale: float, C: int,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor | None, Tensor]:  # fmt: skip
    """``(∂q, ∂k, ∂v, ∂β, ∂g, ∂S_0)`` in the dtypes of the inputs (``∂S_0`` float32)."""
    B, T, H, K = q.shape
    V = v.shape[-1]
    N = triton.cdiv(T, C)
    meta = _meta(q, v, g, C)
    device, f32 = q.device, torch.float32
    d_after = empty(B, H, N, K, V, dtype=f32, device=device)
    d_delta = empty(B, T, H, V, dtype=f32, device=device)
    d_S0 = empty(B, H, K, V, dtype=f32, device=device)
    d_q, d_k = (
        empty(*q.shape, dtype=q.dtype, device=device),
        empty(*k.shape, dtype=k.dtype, device=device),
    )
    d_v = empty(*v.shape, dtype=v.dtype, device=device)
    d_beta = empty(*beta.shape, dtype=beta.dtype, device=device)
    d_g = None if g is None else empty(*g.shape, dtype=g.dtype, device=device)
    g_ = beta if g is None else g
    chunk_bwd_state_kernel[_blocks_of_v(V, B * H)](
        q, k, g_, W, d_o, d_ST, d_after, d_delta, d_S0, T, scale, **meta
    )
    chunk_bwd_intra_kernel[(N, B * H)](
        q, k, v, beta, g_, Tinv, W, U, states, d_after, delta, d_delta, d_o,
        d_q, d_k, d_v, d_beta, d_beta if d_g is None else d_g, T, scale, **meta,
    )  # fmt: skip
    return d_q, d_k, d_v, d_beta, d_g, d_S0
