"""Rotary position embedding (RoPE; Su et al. 2021, RoFormer, arXiv:2104.09864).

A head vector ``x ∈ R^D`` (``D`` even) at absolute position ``p`` is rotated pair by pair: the
pair ``(x_i, x_{i+D/2})``, ``i < D/2``, turns by the angle ``p · ω_i`` with ``ω_i = θ^(−2i/D)``::

    y_i       = x_i       cos(p ω_i) − x_{i+D/2} sin(p ω_i)
    y_{i+D/2} = x_{i+D/2} cos(p ω_i) + x_i       sin(p ω_i)

This is the non-interleaved ("rotate half", GPT-NeoX) pairing that fla's ``RotaryEmbedding`` uses
by default; the paper pairs neighbours ``(x_{2i}, x_{2i+1})``, the same map up to a fixed
permutation of the channels. A rotation keeps norms, ``R_0`` is the identity, and
``⟨R_p q, R_s k⟩`` depends on ``p`` and ``s`` only through ``p − s``: softmax attention over
rotated queries and keys sees relative positions, and a key rotated once at its absolute position
can be cached.

The angles are computed in float64 (exact positions at any length); the rotation runs in the
input's dtype, or float32 for lower precisions, and returns the input's dtype.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def check_theta(theta: float) -> float:
    """``theta`` (the base of the frequencies ``θ^(−2i/D)``) as a float: a finite number > 0."""
    if isinstance(theta, bool) or not isinstance(theta, int | float):
        raise TypeError(f"rope_theta must be a number, got {type(theta).__name__}")
    if not math.isfinite(theta) or theta <= 0:
        raise ValueError(f"rope_theta must be a finite number > 0, got {theta!r}")
    return float(theta)


def rotary_angles(
    length: int,
    d_head: int,
    *,
    offset: int = 0,
    theta: float = 10000.0,
    device: torch.device | None = None,
) -> Tensor:
    """The angles ``p · θ^(−2i/D)`` for ``p = offset .. offset + length − 1``: ``[length, D/2]``
    float64."""
    positions = torch.arange(offset, offset + length, dtype=torch.float64, device=device)
    exponents = torch.arange(0, d_head, 2, dtype=torch.float64, device=device) / d_head
    return torch.outer(positions, theta**-exponents)  # [T, D/2]


def apply_rotary(x: Tensor, offset: int = 0, theta: float = 10000.0) -> Tensor:
    """``x [..., T, D]`` (e.g. ``[B, H, T, D]``) rotated at the absolute positions
    ``offset .. offset + T − 1`` with base ``theta``; same shape and dtype."""
    if not isinstance(x, Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"x must be a floating-point tensor, got {x.dtype}")
    if x.dim() < 2:
        raise ValueError(f"x must be [..., T, D] (at least 2-D), got shape {tuple(x.shape)}")
    T, D = x.shape[-2:]
    if D % 2 or D == 0:
        raise ValueError(f"the rotated dimension D must be even and > 0, got D={D}")
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise ValueError(
            f"offset must be an int >= 0 (the first absolute position), got {offset!r}"
        )
    theta = check_theta(theta)
    work = torch.promote_types(x.dtype, torch.float32)
    angles = rotary_angles(T, D, offset=offset, theta=theta, device=x.device)
    cos, sin = angles.cos().to(work), angles.sin().to(work)  # [T, D/2]
    x1, x2 = x.to(work).chunk(2, dim=-1)  # the pairs (x_i, x_{i+D/2}): [..., T, D/2] each
    rotated = torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1)
    return rotated.to(x.dtype)
