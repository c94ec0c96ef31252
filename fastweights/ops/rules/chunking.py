"""Chunk-major blocks for the chunkwise-parallel forms: ``[B, T, H, ...] <-> [G·B·H, C, ...]``.

A block is a run of ``G`` chunks of ``C`` tokens, gathered chunk-major (chunk index first, then
batch and head), so chunk ``i`` of the block is rows ``i·B·H .. (i+1)·B·H`` and every operand is a
contiguous 3-D stack of matrices for ``bmm``. Working block by block keeps buffers small and
reused instead of copying whole sequences (fresh large buffers are slow on CPU: page faults).
``T`` is zero-padded up to whole chunks: a zero token (``k = 0``, ``β = 0``, ``g = 0``) leaves the
state unchanged, and its outputs are dropped.

``mul_into`` and ``baddbmm_into`` write a result into a view of a buffer: in eager mode by
``out=`` (no temporary, one pass), under ``torch.compile`` as a copy, which the compiler can
trace (it cannot trace ``out=`` into a view) and fuses.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

BLOCK_MATRICES = 64  # chunks per block × B·H: enough work per op, small enough for the caches


def chunk_blocks(length: int, chunk_size: int, batch_heads: int) -> list[tuple[int, int]]:
    """Token ranges ``(t0, t1)`` of blocks of about ``BLOCK_MATRICES / (B·H)`` chunks each."""
    step = chunk_size * max(1, BLOCK_MATRICES // batch_heads)
    return [(t0, min(t0 + step, length)) for t0 in range(0, length, step)]


def mul_into(dest: Tensor, x: Tensor, scale: float | Tensor) -> None:
    """``dest ← x · scale`` (``scale`` a number or a tensor broadcast against ``x``)."""
    if torch.compiler.is_compiling():
        dest.copy_(x * scale)
    else:
        torch.mul(x, scale, out=dest)


def baddbmm_into(dest: Tensor, bias: Tensor, a: Tensor, b: Tensor, alpha: float = 1.0) -> None:
    """``dest ← bias + alpha · a @ b`` (batched; ``dest`` may be ``bias``)."""
    if torch.compiler.is_compiling():
        dest.copy_(torch.baddbmm(bias, a, b, alpha=alpha))
    else:
        torch.baddbmm(bias, a, b, alpha=alpha, out=dest)


def gather(x: Tensor, t0: int, t1: int, chunk_size: int, scale: float | None = None) -> Tensor:
    """``x[:, t0:t1]`` of ``[B, T, H, *D]`` -> ``[G·B·H, C, *D]`` (times ``scale``), zero-padded to
    whole chunks; always a new tensor."""
    B, _, H, *D = x.shape
    G = -(-(t1 - t0) // chunk_size)
    part = x[:, t0:t1]
    pad = G * chunk_size - (t1 - t0)
    if pad:
        # F.pad pads trailing dims first: zeros for each of D and H, then (0, pad) on T
        part = F.pad(part, (0, 0) * (len(D) + 1) + (0, pad))
    part = part.reshape(B, G, chunk_size, H, *D).movedim(1, 0).transpose(2, 3)  # [G, B, H, C, *D]
    out = x.new_empty(G * B * H, chunk_size, *D)
    if scale is None:
        out.view_as(part).copy_(part)
    else:
        mul_into(out.view_as(part), part, scale)  # the copy and the scaling in one pass
    return out


def scatter(y: Tensor, out: Tensor, t0: int, t1: int, scale: float | None = None) -> None:
    """Write ``y [G·B·H, C, *D]`` (from ``gather``, times ``scale``) into ``out[:, t0:t1]``."""
    B, _, H, *D = out.shape
    C = y.shape[1]
    G = y.shape[0] // (B * H)
    y = y.view(G, B, H, C, *D).transpose(2, 3).movedim(0, 1)  # [B, G, C, H, *D]
    if t1 - t0 != G * C:  # the last block: drop its padding
        y = y.reshape(B, G * C, H, *D)[:, : t1 - t0]
    dest = out[:, t0:t1].view(y.shape)
    if scale is None:
        dest.copy_(y)
    else:
        mul_into(dest, y, scale)
