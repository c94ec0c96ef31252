"""The kernels as ``torch.library`` custom ops, so models that use them compile with
``torch.compile(fullgraph=True)``: each op is opaque to the compiler, its fake implementation
gives the output shapes and dtypes, and ``register_autograd`` ties each forward op to its
backward op.

Ops (namespace ``fastweights``; inputs contiguous ``[B, T, H, D]``, ``q`` unscaled, ``g`` optional):

* ``recurrent_fwd(q, k, v, beta, g, S0, scale, delta) -> (o, S_T, v̄)`` and ``recurrent_bwd``:
  the fused recurrent kernels (``delta=False``: the sum rule; ``v̄`` is empty then);
* ``chunk_fwd(q, k, v, beta, g, S0, scale, chunk_size) -> (o, S_T, T⁻¹, W, U, states, Δ)`` and
  ``chunk_bwd``: the chunkwise delta-rule kernels (the extra outputs are kept for the backward).

This file does not use ``from __future__ import annotations``: ``custom_op`` reads the schema
from the annotations at import time.
"""

import torch
from torch import Tensor

from fastweights.ops.triton import chunk, recurrent

_F32 = torch.float32


def _grad_or_zeros(grad: Tensor | None, like: Tensor) -> Tensor:
    return torch.zeros_like(like) if grad is None else grad.contiguous()


# ---- fused recurrent ---------------------------------------------------------------------------


@torch.library.custom_op("fastweights::recurrent_fwd", mutates_args=())
def recurrent_fwd(
    q: Tensor, k: Tensor, v: Tensor, beta: Tensor, g: Tensor | None, S0: Tensor, scale: float,
    delta: bool,
) -> tuple[Tensor, Tensor, Tensor]:  # fmt: skip
    o, S, vbar = recurrent.recurrent_fwd(q, k, v, beta, g, S0, scale, delta=delta, store_vbar=True)
    return o, S, q.new_empty(0, dtype=_F32) if vbar is None else vbar


@recurrent_fwd.register_fake
def _(q, k, v, beta, g, S0, scale, delta):
    B, T, H, K = q.shape
    V = v.shape[-1]
    vbar = q.new_empty(B, T, H, V, dtype=_F32) if delta else q.new_empty(0, dtype=_F32)
    return v.new_empty(B, T, H, V), q.new_empty(B, H, K, V, dtype=_F32), vbar


@torch.library.custom_op("fastweights::recurrent_bwd", mutates_args=())
def recurrent_bwd(
    q: Tensor, k: Tensor, v: Tensor, beta: Tensor, g: Tensor | None, S0: Tensor, vbar: Tensor,
    S_T: Tensor, d_o: Tensor, d_ST: Tensor, scale: float, delta: bool,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:  # fmt: skip
    grads = recurrent.recurrent_bwd(
        q, k, v, beta, g, S0, vbar if delta else None, S_T, d_o, d_ST, scale, delta=delta
    )
    d_q, d_k, d_v, d_beta, d_g, d_S0 = grads
    return d_q, d_k, d_v, d_beta, q.new_empty(0) if d_g is None else d_g, d_S0


@recurrent_bwd.register_fake
def _(q, k, v, beta, g, S0, vbar, S_T, d_o, d_ST, scale, delta):
    d_g = q.new_empty(0) if g is None else torch.empty_like(g)
    like = (q, k, v, beta)
    return (*(torch.empty_like(x) for x in like), d_g, torch.empty_like(S0, dtype=_F32))


def _recurrent_setup(ctx, inputs, output) -> None:
    q, k, v, beta, g, S0, scale, delta = inputs
    _, S_T, vbar = output
    ctx.save_for_backward(q, k, v, beta, g, S0, vbar, S_T)
    ctx.scale, ctx.delta, ctx.gated = scale, delta, g is not None
    ctx.set_materialize_grads(False)


def _recurrent_backward(ctx, d_o, d_ST, _d_vbar):
    q, k, v, beta, g, S0, vbar, S_T = ctx.saved_tensors
    d_o = _grad_or_zeros(d_o, v)
    d_q, d_k, d_v, d_beta, d_g, d_S0 = recurrent_bwd(
        q, k, v, beta, g, S0, vbar, S_T, d_o, _grad_or_zeros(d_ST, S_T), ctx.scale, ctx.delta
    )
    return d_q, d_k, d_v, d_beta, d_g if ctx.gated else None, d_S0, None, None


recurrent_fwd.register_autograd(_recurrent_backward, setup_context=_recurrent_setup)


# ---- chunkwise (gated) delta rule --------------------------------------------------------------


@torch.library.custom_op("fastweights::chunk_fwd", mutates_args=())
def chunk_fwd(
    q: Tensor, k: Tensor, v: Tensor, beta: Tensor, g: Tensor | None, S0: Tensor, scale: float,
    chunk_size: int,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:  # fmt: skip
    return chunk.chunk_fwd(q, k, v, beta, g, S0, scale, chunk_size)


@chunk_fwd.register_fake
def _(q, k, v, beta, g, S0, scale, chunk_size):
    B, T, H, K = q.shape
    V = v.shape[-1]
    N = (T + chunk_size - 1) // chunk_size
    return (
        v.new_empty(B, T, H, V),
        q.new_empty(B, H, K, V, dtype=_F32),
        q.new_empty(B, T, H, chunk_size, dtype=_F32),
        q.new_empty(B, T, H, K, dtype=_F32),
        q.new_empty(B, T, H, V, dtype=_F32),
        q.new_empty(B, H, N, K, V, dtype=_F32),
        q.new_empty(B, T, H, V, dtype=_F32),
    )


@torch.library.custom_op("fastweights::chunk_bwd", mutates_args=())
def chunk_bwd(
    q: Tensor, k: Tensor, v: Tensor, beta: Tensor, g: Tensor | None, Tinv: Tensor, W: Tensor,
    U: Tensor, states: Tensor, delta: Tensor, d_o: Tensor, d_ST: Tensor, scale: float,
    chunk_size: int,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:  # fmt: skip
    grads = chunk.chunk_bwd(
        q, k, v, beta, g, Tinv, W, U, states, delta, d_o, d_ST, scale, chunk_size
    )
    d_q, d_k, d_v, d_beta, d_g, d_S0 = grads
    return d_q, d_k, d_v, d_beta, q.new_empty(0) if d_g is None else d_g, d_S0


@chunk_bwd.register_fake
def _(q, k, v, beta, g, Tinv, W, U, states, delta, d_o, d_ST, scale, chunk_size):
    d_g = q.new_empty(0) if g is None else torch.empty_like(g)
    like = (q, k, v, beta)
    return (*(torch.empty_like(x) for x in like), d_g, torch.empty_like(d_ST, dtype=_F32))


def _chunk_setup(ctx, inputs, output) -> None:
    q, k, v, beta, g, _, scale, chunk_size = inputs
    _, S_T, Tinv, W, U, states, delta = output
    ctx.save_for_backward(q, k, v, beta, g, Tinv, W, U, states, delta, S_T)
    ctx.scale, ctx.chunk_size, ctx.gated = scale, chunk_size, g is not None
    ctx.set_materialize_grads(False)


def _chunk_backward(ctx, d_o, d_ST, *_unused):
    q, k, v, beta, g, Tinv, W, U, states, delta, S_T = ctx.saved_tensors
    d_q, d_k, d_v, d_beta, d_g, d_S0 = chunk_bwd(
        q, k, v, beta, g, Tinv, W, U, states, delta, _grad_or_zeros(d_o, v),
        _grad_or_zeros(d_ST, S_T), ctx.scale, ctx.chunk_size,
    )  # fmt: skip
    return d_q, d_k, d_v, d_beta, d_g if ctx.gated else None, d_S0, None, None


chunk_fwd.register_autograd(_chunk_backward, setup_context=_chunk_setup)
