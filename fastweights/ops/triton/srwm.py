"""The fused recurrent Triton kernel of the modern self-referential weight matrix (SRWM).

Irie, Schlag, Csordás, Schmidhuber, ICML 2022 (arXiv:2202.05780). Per (batch, head) one program
keeps the whole matrix ``W = [W_y; W_q; W_k; w_bᵀ]`` (``R = Y + 2D + 4`` rows, ``Y = D`` for the
SRWM) in registers, in float32, and walks the sequence token by token::

    z_t = W_{t-1} x_t = [y_t, q̃_t, k̃_t, β̃_t]
    q_t = softmax(q̃_t),  k_t = softmax(k̃_t),  β_t = σ(β̃_t),  u_t = q_t − k_t
    e_t = β_t ⊙_rows W_{t-1} u_t                     (= β_t ⊙_rows (v_t − v̄_t))
    W_t = W_{t-1} + e_t k_tᵀ

The forward writes ``y_t``, and, when a backward will follow, only ``e_t [R]`` and ``k_t [D]``:
memory ``O(T·(R + D))`` per head, not ``O(T·R·D)`` (nothing at all under ``no_grad``). The
backward starts from ``W_T`` and walks back, rebuilding each past matrix by reverting its
update, ``W_{t-1} = W_t − e_t k_tᵀ``, recomputing what the step needs from ``W_{t-1}`` and
``x_t``, and differentiating the step by hand
(``W' = W + e kᵀ``, ``e = β ⊙ d``, ``d = W u``, ``z = W x``)::

    ∂e = ∂W' k,  ∂k ∋ ∂W'ᵀ e,  ∂d = β ⊙ ∂e,  ∂β = Σ_rows ∂e ⊙ d,  ∂W ∋ ∂d uᵀ,  ∂u = Wᵀ ∂d
    ∂z = [∂y, softmax'(q)(∂u), softmax'(k)(∂k − ∂u), σ'(β̃) ∂β],  ∂x = Wᵀ ∂z,  ∂W ∋ ∂z xᵀ

Reverting in float32 adds a rounding error per step; ``docs/srwm.md`` ("Triton kernel") shows
the measured growth with ``T``. The official kernel does the same (sequential per (batch,
head), CUDA, reverting backward).

Layouts follow ``fastweights.ops.cells.srwm``: ``x [B, T, H, D]`` (float32, float16 or bfloat16),
``W_y [B, H, Y, D]``, ``W_q, W_k [B, H, D, D]``, ``w_b [B, H, D, 4]`` (float32); ``y`` comes out
in the dtype of ``x``, the state in float32. ``W_y`` may have any number of rows (SR-Delta's has
``3D + 1``). The input softmax of the paper is a per-token transform applied before the cell and
Fake SR has no recurrence (its ``parallel`` form is one product), so neither needs a kernel.

The kernels are wrapped as ``torch.library`` custom ops (``fastweights::srwm_fwd`` and
``fastweights::srwm_bwd``) with fake implementations and an autograd registration, so that
``torch.compile(fullgraph=True)`` traces a model that calls ``srwm_triton``. The backward is
not itself differentiable (no double backward). One program holds ``R·D`` weights (and their
gradients in the backward) in registers: on sm_90 nothing spills up to ``D = 64`` in the forward
and a little in the backward; ``D = 128`` spills (H200: forward+backward 4.9× the time of
``D = 64`` for 4× the weights).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from fastweights.ops.triton.common import check_kernel_inputs, empty, gpu_driver, tl, triton

__all__ = ["srwm_triton"]

# Warps per program, by head block: a program holds R × BLOCK_D weights (and their gradients in
# the backward) in registers; ptxas (sm_90, cuobjdump -res-usage) showed that 8 warps spill at
# BLOCK_D = 64 in the backward and 16 do not in the forward, so the candidates grow with the block.
_WARPS = {16: (4,), 32: (4, 8), 64: (8, 16)}


def _warps_for_block(
    configs: list[triton.Config], named_args: dict[str, Any], **_: Any
) -> list[triton.Config]:
    fits = _WARPS.get(max(16, triton.next_power_of_2(named_args["D"])), (16, 32))
    return [c for c in configs if c.num_warps in fits]


def _tuned(kernel: Any) -> Any:
    """On a GPU, time the candidate warp counts once per head size; elsewhere run as is."""
    if not gpu_driver():
        return kernel
    configs = [triton.Config({}, num_warps=w) for w in (4, 8, 16, 32)]
    prune = {"early_config_prune": _warps_for_block}
    return triton.autotune(configs=configs, key=["D", "Y"], prune_configs_by=prune)(kernel)


@_tuned
@triton.jit
def _srwm_fwd_kernel(
    x_ptr, wy_ptr, wq_ptr, wk_ptr, wb_ptr,  # x [B, T, H, D]; the initial state
    y_ptr, oy_ptr, oq_ptr, ok_ptr, ob_ptr,  # y [B, T, H, Y]; the final state
    e_ptr, k_ptr,  # the updates e [BH, T, R] and keys k [BH, T, D], for the backward
    T, H, D, Y,
    BLOCK_D: tl.constexpr, BLOCK_Y: tl.constexpr, SAVE: tl.constexpr,  # SAVE: write e and k
):  # fmt: skip
    # Helpers are inlined: a nested @triton.jit call costs milliseconds under the interpreter.
    # Notation: A @ v over rows is tl.sum(A * v[None, :], 1); Aᵀ @ v is tl.sum(A * v[:, None], 0).
    bh = tl.program_id(0).to(tl.int64)  # offsets in int64: B·T·H·R may pass 2³¹
    b, h = bh // H, bh % H
    R = Y + 2 * D + 4
    rd = tl.arange(0, BLOCK_D)
    ry = tl.arange(0, BLOCK_Y)
    r4 = tl.arange(0, 4)
    dmask, ymask = rd < D, ry < Y
    sq = dmask[:, None] & dmask[None, :]
    sy = ymask[:, None] & dmask[None, :]
    sb = (r4 < 4)[:, None] & dmask[None, :]
    # the state tiles, padded with zeros (which the updates keep zero); w_b is held as w_bᵀ [4, D]
    offs_y = bh * Y * D + ry[:, None] * D + rd[None, :]
    offs_q = bh * D * D + rd[:, None] * D + rd[None, :]
    offs_b = bh * D * 4 + rd[None, :] * 4 + r4[:, None]
    Wy = tl.load(wy_ptr + offs_y, mask=sy, other=0.0).to(tl.float32)
    Wq = tl.load(wq_ptr + offs_q, mask=sq, other=0.0).to(tl.float32)
    Wk = tl.load(wk_ptr + offs_q, mask=sq, other=0.0).to(tl.float32)
    Wb = tl.load(wb_ptr + offs_b, mask=sb, other=0.0).to(tl.float32)
    for t in range(T):
        tok = (b * T + t) * H + h
        x = tl.load(x_ptr + tok * D + rd, mask=dmask, other=0.0).to(tl.float32)
        # z = W x: y, softmax q and k (over the D valid rows), σ β
        y = tl.sum(Wy * x[None, :], 1)
        q = tl.where(dmask, tl.sum(Wq * x[None, :], 1), float("-inf"))
        q = tl.exp(q - tl.max(q, 0))
        q = q / tl.sum(q, 0)
        k = tl.where(dmask, tl.sum(Wk * x[None, :], 1), float("-inf"))
        k = tl.exp(k - tl.max(k, 0))
        k = k / tl.sum(k, 0)
        beta = 1.0 / (1.0 + tl.exp(-tl.sum(Wb * x[None, :], 1)))  # σ (tl.sigmoid is a call)
        tl.store(y_ptr + tok * Y + ry, y.to(y_ptr.dtype.element_ty), mask=ymask)
        # e = β ⊙_rows W u with u = q − k (zero on padded rows)
        u = q - k
        b02, b13 = tl.split(tl.reshape(beta, (2, 2)))  # the four rates as scalars
        b0, b2 = tl.split(b02)  # no nested unpacking: Triton 3.6 cannot parse it
        b1, b3 = tl.split(b13)
        ey = b0 * tl.sum(Wy * u[None, :], 1)
        eq = b1 * tl.sum(Wq * u[None, :], 1)
        ek = b2 * tl.sum(Wk * u[None, :], 1)
        eb = b3 * tl.sum(Wb * u[None, :], 1)
        if SAVE:
            row = (bh * T + t) * R
            tl.store(e_ptr + row + ry, ey, mask=ymask)
            tl.store(e_ptr + row + Y + rd, eq, mask=dmask)
            tl.store(e_ptr + row + Y + D + rd, ek, mask=dmask)
            tl.store(e_ptr + row + Y + 2 * D + r4, eb)
            tl.store(k_ptr + (bh * T + t) * D + rd, k, mask=dmask)
        # W_t = W_{t-1} + e kᵀ
        Wy += ey[:, None] * k[None, :]
        Wq += eq[:, None] * k[None, :]
        Wk += ek[:, None] * k[None, :]
        Wb += eb[:, None] * k[None, :]
    tl.store(oy_ptr + offs_y, Wy, mask=sy)
    tl.store(oq_ptr + offs_q, Wq, mask=sq)
    tl.store(ok_ptr + offs_q, Wk, mask=sq)
    tl.store(ob_ptr + offs_b, Wb, mask=sb)


@_tuned
@triton.jit
def _srwm_bwd_kernel(
    x_ptr, wy_ptr, wq_ptr, wk_ptr, wb_ptr,  # x [B, T, H, D]; the final state W_T
    e_ptr, k_ptr,  # the saved updates and keys
    gy_ptr, gwy_ptr, gwq_ptr, gwk_ptr, gwb_ptr,  # ∂y [B, T, H, Y]; ∂ of the final state
    gx_ptr, dwy_ptr, dwq_ptr, dwk_ptr, dwb_ptr,  # out: ∂x; ∂ of the initial state
    T, H, D, Y,
    BLOCK_D: tl.constexpr, BLOCK_Y: tl.constexpr,
):  # fmt: skip
    bh = tl.program_id(0).to(tl.int64)  # offsets in int64: B·T·H·R may pass 2³¹
    b, h = bh // H, bh % H
    R = Y + 2 * D + 4
    rd = tl.arange(0, BLOCK_D)
    ry = tl.arange(0, BLOCK_Y)
    r4 = tl.arange(0, 4)
    dmask, ymask = rd < D, ry < Y
    sq = dmask[:, None] & dmask[None, :]
    sy = ymask[:, None] & dmask[None, :]
    sb = (r4 < 4)[:, None] & dmask[None, :]
    offs_y = bh * Y * D + ry[:, None] * D + rd[None, :]
    offs_q = bh * D * D + rd[:, None] * D + rd[None, :]
    offs_b = bh * D * 4 + rd[None, :] * 4 + r4[:, None]
    Wy = tl.load(wy_ptr + offs_y, mask=sy, other=0.0).to(tl.float32)
    Wq = tl.load(wq_ptr + offs_q, mask=sq, other=0.0).to(tl.float32)
    Wk = tl.load(wk_ptr + offs_q, mask=sq, other=0.0).to(tl.float32)
    Wb = tl.load(wb_ptr + offs_b, mask=sb, other=0.0).to(tl.float32)
    Gy = tl.load(gwy_ptr + offs_y, mask=sy, other=0.0).to(tl.float32)
    Gq = tl.load(gwq_ptr + offs_q, mask=sq, other=0.0).to(tl.float32)
    Gk = tl.load(gwk_ptr + offs_q, mask=sq, other=0.0).to(tl.float32)
    Gb = tl.load(gwb_ptr + offs_b, mask=sb, other=0.0).to(tl.float32)
    for i in range(T):
        t = T - 1 - i
        tok = (b * T + t) * H + h
        row = (bh * T + t) * R
        # revert the update of step t: W_{t-1} = W_t − e_t k_tᵀ
        ks = tl.load(k_ptr + (bh * T + t) * D + rd, mask=dmask, other=0.0)[None, :]
        Wy -= tl.load(e_ptr + row + ry, mask=ymask, other=0.0)[:, None] * ks
        Wq -= tl.load(e_ptr + row + Y + rd, mask=dmask, other=0.0)[:, None] * ks
        Wk -= tl.load(e_ptr + row + Y + D + rd, mask=dmask, other=0.0)[:, None] * ks
        Wb -= tl.load(e_ptr + row + Y + 2 * D + r4)[:, None] * ks
        # recompute the step from W_{t-1} and x_t (as in the forward kernel)
        x = tl.load(x_ptr + tok * D + rd, mask=dmask, other=0.0).to(tl.float32)
        q = tl.where(dmask, tl.sum(Wq * x[None, :], 1), float("-inf"))
        q = tl.exp(q - tl.max(q, 0))
        q = q / tl.sum(q, 0)
        k = tl.where(dmask, tl.sum(Wk * x[None, :], 1), float("-inf"))
        k = tl.exp(k - tl.max(k, 0))
        k = k / tl.sum(k, 0)
        beta = 1.0 / (1.0 + tl.exp(-tl.sum(Wb * x[None, :], 1)))  # σ (tl.sigmoid is a call)
        u = q - k
        b02, b13 = tl.split(tl.reshape(beta, (2, 2)))
        b0, b2 = tl.split(b02)  # no nested unpacking: Triton 3.6 cannot parse it
        b1, b3 = tl.split(b13)
        dy = tl.sum(Wy * u[None, :], 1)  # d = W u, block by block
        dq = tl.sum(Wq * u[None, :], 1)
        dk = tl.sum(Wk * u[None, :], 1)
        db = tl.sum(Wb * u[None, :], 1)
        # W' = W + e kᵀ, e = β ⊙ d: ∂e = ∂W' k, ∂k = ∂W'ᵀ e, ∂d = β ⊙ ∂e, ∂β = Σ ∂e ⊙ d
        ge_y = tl.sum(Gy * k[None, :], 1)
        ge_q = tl.sum(Gq * k[None, :], 1)
        ge_k = tl.sum(Gk * k[None, :], 1)
        ge_b = tl.sum(Gb * k[None, :], 1)
        g_k = tl.sum(Gy * (b0 * dy)[:, None], 0) + tl.sum(Gq * (b1 * dq)[:, None], 0)
        g_k += tl.sum(Gk * (b2 * dk)[:, None], 0) + tl.sum(Gb * (b3 * db)[:, None], 0)
        g_beta = tl.where(r4 == 0, tl.sum(ge_y * dy, 0), 0.0)
        g_beta += tl.where(r4 == 1, tl.sum(ge_q * dq, 0), 0.0)
        g_beta += tl.where(r4 == 2, tl.sum(ge_k * dk, 0), 0.0)
        g_beta += tl.where(r4 == 3, tl.sum(ge_b * db, 0), 0.0)
        gd_y, gd_q, gd_k, gd_b = b0 * ge_y, b1 * ge_q, b2 * ge_k, b3 * ge_b
        # d = W u: ∂u = Wᵀ ∂d, ∂W += ∂d uᵀ
        g_u = tl.sum(Wy * gd_y[:, None], 0) + tl.sum(Wq * gd_q[:, None], 0)
        g_u += tl.sum(Wk * gd_k[:, None], 0) + tl.sum(Wb * gd_b[:, None], 0)
        Gy += gd_y[:, None] * u[None, :]
        Gq += gd_q[:, None] * u[None, :]
        Gk += gd_k[:, None] * u[None, :]
        Gb += gd_b[:, None] * u[None, :]
        # z = W x: ∂z through the softmaxes and σ, ∂x = Wᵀ ∂z, ∂W += ∂z xᵀ
        gz_y = tl.load(gy_ptr + tok * Y + ry, mask=ymask, other=0.0).to(tl.float32)
        gz_q = q * (g_u - tl.sum(q * g_u, 0))
        g_k -= g_u
        gz_k = k * (g_k - tl.sum(k * g_k, 0))
        gz_b = g_beta * beta * (1.0 - beta)
        g_x = tl.sum(Wy * gz_y[:, None], 0) + tl.sum(Wq * gz_q[:, None], 0)
        g_x += tl.sum(Wk * gz_k[:, None], 0) + tl.sum(Wb * gz_b[:, None], 0)
        tl.store(gx_ptr + tok * D + rd, g_x.to(gx_ptr.dtype.element_ty), mask=dmask)
        Gy += gz_y[:, None] * x[None, :]
        Gq += gz_q[:, None] * x[None, :]
        Gk += gz_k[:, None] * x[None, :]
        Gb += gz_b[:, None] * x[None, :]
    tl.store(dwy_ptr + offs_y, Gy, mask=sy)
    tl.store(dwq_ptr + offs_q, Gq, mask=sq)
    tl.store(dwk_ptr + offs_q, Gk, mask=sq)
    tl.store(dwb_ptr + offs_b, Gb, mask=sb)


def _launch(D: int, Y: int) -> dict[str, int]:
    """The blocks covering a head (powers of two); the warps are tuned (``_tuned``)."""
    return {"BLOCK_D": triton.next_power_of_2(D), "BLOCK_Y": triton.next_power_of_2(Y)}


def _like_state(W_y: Tensor, W_q: Tensor, W_k: Tensor, w_b: Tensor) -> list[Tensor]:
    return [empty(*W.shape, dtype=torch.float32, device=W.device) for W in (W_y, W_q, W_k, w_b)]


@torch.library.custom_op("fastweights::srwm_fwd", mutates_args=())
def srwm_fwd(
    x: Tensor, W_y: Tensor, W_q: Tensor, W_k: Tensor, w_b: Tensor, save: bool
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    """``(y, W_y, W_q, W_k, w_b, e, k)``: outputs, final state, and the updates and keys that
    the backward needs (``[B·H, T, R]``, ``[B·H, T, D]``; empty, length 0, unless ``save``)."""
    B, T, H, D = x.shape
    Y = W_y.shape[-2]
    kept = T if save else 0
    y = empty(B, T, H, Y, dtype=x.dtype, device=x.device)
    final = _like_state(W_y, W_q, W_k, w_b)
    e = empty(B * H, kept, Y + 2 * D + 4, dtype=torch.float32, device=x.device)  # e_t per head
    k = empty(B * H, kept, D, dtype=torch.float32, device=x.device)  # k_t per head
    if B * H > 0:
        _srwm_fwd_kernel[(B * H,)](
            x.contiguous(), *(W.contiguous() for W in (W_y, W_q, W_k, w_b)),
            y, *final, e, k, T, H, D, Y, **_launch(D, Y), SAVE=save,
        )  # fmt: skip
    return y, *final, e, k


@srwm_fwd.register_fake
def _srwm_fwd_fake(
    x: Tensor, W_y: Tensor, W_q: Tensor, W_k: Tensor, w_b: Tensor, save: bool
) -> tuple[Tensor, ...]:
    B, T, H, D = x.shape
    Y = W_y.shape[-2]
    kept = T if save else 0
    fp32 = {"dtype": torch.float32}
    return (
        x.new_empty(B, T, H, Y),
        *(W.new_empty(W.shape, **fp32) for W in (W_y, W_q, W_k, w_b)),
        x.new_empty(B * H, kept, Y + 2 * D + 4, **fp32),
        x.new_empty(B * H, kept, D, **fp32),
    )


@torch.library.custom_op("fastweights::srwm_bwd", mutates_args=())
def srwm_bwd(
    x: Tensor,
    W_y: Tensor,
    W_q: Tensor,
    W_k: Tensor,
    w_b: Tensor,
    e: Tensor,
    k: Tensor,
    g_y: Tensor,
    g_W_y: Tensor,
    g_W_q: Tensor,
    g_W_k: Tensor,
    g_w_b: Tensor,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Gradients of ``x`` and of the initial state from the final state ``W`` (reverting)."""
    B, T, H, D = x.shape
    Y = W_y.shape[-2]
    g_x = empty(B, T, H, D, dtype=x.dtype, device=x.device)
    g_initial = _like_state(W_y, W_q, W_k, w_b)
    if B * H > 0:
        _srwm_bwd_kernel[(B * H,)](
            x.contiguous(), *(W.contiguous() for W in (W_y, W_q, W_k, w_b)),
            e.contiguous(), k.contiguous(),
            g_y.contiguous(), *(g.contiguous() for g in (g_W_y, g_W_q, g_W_k, g_w_b)),
            g_x, *g_initial, T, H, D, Y, **_launch(D, Y),
        )  # fmt: skip
    return g_x, *g_initial


@srwm_bwd.register_fake
def _srwm_bwd_fake(
    x: Tensor, W_y: Tensor, W_q: Tensor, W_k: Tensor, w_b: Tensor, *_: Tensor
) -> tuple[Tensor, ...]:
    return x.new_empty(x.shape), *(W.new_empty(W.shape) for W in (W_y, W_q, W_k, w_b))


def _setup_context(ctx: torch.autograd.function.FunctionCtx, inputs: tuple, output: tuple) -> None:
    x = inputs[0]
    _, W_y, W_q, W_k, w_b, e, k = output
    ctx.save_for_backward(x, W_y, W_q, W_k, w_b, e, k)  # O(T·(R + D)) per head: no W_t is kept
    ctx.mark_non_differentiable(e, k)


def _backward(
    ctx: torch.autograd.function.FunctionCtx, g_y: Tensor | None, *g_rest: Tensor | None
) -> tuple[Tensor, ...]:
    x, W_y, W_q, W_k, w_b, e, k = ctx.saved_tensors
    if e.shape[1] != x.shape[1]:
        raise RuntimeError("srwm_fwd ran with save=False: it kept nothing for a backward pass")
    finals = (W_y, W_q, W_k, w_b)
    g_y = (
        torch.zeros(*x.shape[:3], W_y.shape[-2], dtype=x.dtype, device=x.device)
        if g_y is None
        else g_y
    )
    g_state = [
        torch.zeros_like(W) if g is None else g for W, g in zip(finals, g_rest[:4], strict=True)
    ]
    return *srwm_bwd(x, *finals, e, k, g_y, *g_state), None  # no gradient for `save`


srwm_fwd.register_autograd(_backward, setup_context=_setup_context)


def _check(x: Tensor, W_y: Tensor, W_q: Tensor, W_k: Tensor, w_b: Tensor) -> None:
    if x.dim() != 4:
        raise ValueError(f"srwm: x must be [B, T, H, D], got shape {tuple(x.shape)}")
    B, _, H, D = x.shape
    expected = {"W_q": (B, H, D, D), "W_k": (B, H, D, D), "w_b": (B, H, D, 4)}
    if W_y.dim() != 4 or W_y.shape[:2] != (B, H) or W_y.shape[-1] != D:
        raise ValueError(f"srwm: W_y must be [{B}, {H}, Y, {D}], got {tuple(W_y.shape)}")
    for name, W in (("W_q", W_q), ("W_k", W_k), ("w_b", w_b)):
        if tuple(W.shape) != expected[name]:
            raise ValueError(f"srwm: {name} must be {list(expected[name])}, got {tuple(W.shape)}")
    for name, W in (("W_y", W_y), ("W_q", W_q), ("W_k", W_k), ("w_b", w_b)):
        if W.dtype != torch.float32:
            raise TypeError(
                f"srwm: the Triton kernel keeps the state in float32, {name} is {W.dtype}"
            )
        if W.device != x.device:
            raise ValueError(f"srwm: {name} is on {W.device}, x on {x.device}")
    check_kernel_inputs("srwm", x, W_y, W_q, W_k, w_b)


def srwm_triton(
    x: Tensor, W_y: Tensor, W_q: Tensor, W_k: Tensor, w_b: Tensor
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """The SRWM over ``x [B, T, H, D]`` in the Triton kernel: ``(y, W_y, W_q, W_k, w_b)``.

    Same call as ``fastweights.ops.cells.srwm_fused.fused_srwm``; differentiable w.r.t. ``x``
    and the initial state. CUDA tensors, or CPU tensors under ``TRITON_INTERPRET=1``.
    """
    _check(x, W_y, W_q, W_k, w_b)
    inputs = (x, W_y, W_q, W_k, w_b)
    # the updates and keys are written only for a backward pass (not under no_grad, inference)
    save = torch.is_grad_enabled() and any(t.requires_grad for t in inputs)
    y, *final, _, _ = torch.ops.fastweights.srwm_fwd(*inputs, save)
    return y, *final
