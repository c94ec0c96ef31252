"""Seeded random distortions that turn one clean glyph into many "handwritten" examples.

For each example, drawn from a ``torch.Generator`` (``DISTORTION`` holds the ranges):

1. **stroke thickness**: erosion (3×3 min filter) with probability ``p_thin``, dilation (3×3
   max filter) with probability ``p_thick``, else unchanged — applied on the master canvas, which
   has at least twice the output resolution, so one step is about half an output pixel per side;
2. **affine warp** ``x ↦ A x + t`` with ``A = R(φ) · Sh(h) · diag(s(1 + a), s(1 − a))``:
   rotation ``φ ~ U(±rotation°)``, shear ``h ~ U(±shear)``, scale ``s ~ U(scale)``, aspect
   ``a ~ U(±aspect)``, translation ``t ~ U(±translation)`` per axis (a fraction of the canvas
   half-width), applied at the master resolution by bilinear sampling (``grid_sample``);
3. **area-average down-sampling** to the output size.

Small random rotations and translations are how Santoro et al. 2016 (arXiv:1605.06065) augment
Omniglot; the ranges here are sized so that a glyph stays readable at 28×28.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

DISTORTION = {
    "rotation": 15.0,  # degrees, ±
    "shear": 0.2,  # ±
    "scale": (0.85, 1.1),
    "aspect": 0.1,  # ±
    "translation": 0.08,  # ± fraction of the canvas half-width
    "p_thin": 0.25,
    "p_thick": 0.25,
}


def _uniform(n: int, low: float, high: float, generator: torch.Generator) -> Tensor:
    return low + (high - low) * torch.rand(n, generator=generator, dtype=torch.float64)


def _max3x3(x: Tensor) -> Tensor:
    """3×3 max filter of ``[n, M, M]`` (zeros outside), as two separable 3-tap maxima (much
    faster than ``max_pool2d`` with stride 1 on CPU)."""
    p = F.pad(x, (1, 1, 1, 1))  # [n, M+2, M+2]
    rows = torch.maximum(torch.maximum(p[:, :, :-2], p[:, :, 1:-1]), p[:, :, 2:])  # [n, M+2, M]
    return torch.maximum(torch.maximum(rows[:, :-2], rows[:, 1:-1]), rows[:, 2:])


def _thickness(masters: Tensor, generator: torch.Generator) -> Tensor:
    """Erode or dilate each ``[n, M, M]`` canvas with the probabilities in ``DISTORTION``."""
    u = torch.rand(masters.shape[0], generator=generator)
    thin, thick = u < DISTORTION["p_thin"], u >= 1 - DISTORTION["p_thick"]
    out = masters.clone()
    out[thin] = 1 - _max3x3(1 - masters[thin])  # erosion: a min filter (ones outside)
    out[thick] = _max3x3(masters[thick])
    return out


def _inverse_affine(n: int, generator: torch.Generator) -> Tensor:
    """``θ [n, 2, 3]`` for ``affine_grid``: the map from output to input coordinates, i.e. the
    inverse of the drawn ``x ↦ A x + t``."""
    d = DISTORTION
    phi = _uniform(n, -d["rotation"], d["rotation"], generator) * math.pi / 180
    shear = _uniform(n, -d["shear"], d["shear"], generator)
    scale = _uniform(n, *d["scale"], generator)
    aspect = _uniform(n, -d["aspect"], d["aspect"], generator)
    shift = _uniform(2 * n, -d["translation"], d["translation"], generator).view(n, 2)
    cos, sin = torch.cos(phi), torch.sin(phi)
    rotation = torch.stack([cos, -sin, sin, cos], -1).view(n, 2, 2)
    shearing = torch.eye(2, dtype=torch.float64).repeat(n, 1, 1)
    shearing[:, 0, 1] = shear
    scaling = torch.diag_embed(torch.stack([scale * (1 + aspect), scale * (1 - aspect)], -1))
    A = rotation @ shearing @ scaling  # [n, 2, 2]
    a, b, c, d = A[:, 0, 0], A[:, 0, 1], A[:, 1, 0], A[:, 1, 1]
    A_inv = torch.stack([d, -b, -c, a], -1).view(n, 2, 2) / (a * d - b * c)[:, None, None]
    offset = -(A_inv @ shift.unsqueeze(-1))  # [n, 2, 1]
    return torch.cat([A_inv, offset], -1).float()


def distort(masters: Tensor, size: int, generator: torch.Generator) -> Tensor:
    """Distorted copies of ``masters [n, M, M]`` (float in ``[0, 1]``), one draw each, as
    ``[n, size, size]`` float32 in ``[0, 1]``."""
    if masters.dim() != 3 or masters.shape[1] != masters.shape[2]:
        raise ValueError(f"masters must be [n, M, M], got {tuple(masters.shape)}")
    n, M = masters.shape[0], masters.shape[1]
    x = _thickness(masters.float(), generator).unsqueeze(1)  # [n, 1, M, M]
    # the sampling grid of affine_grid(θ, align_corners=False), built by one matmul (faster here)
    centres = (torch.arange(M, dtype=torch.float32) * 2 + 1) / M - 1  # pixel centres in [-1, 1]
    xs, ys = centres.expand(M, M), centres[:, None].expand(M, M)
    base = torch.stack([xs, ys, torch.ones(M, M)], -1).view(1, M * M, 3)
    grid = (base @ _inverse_affine(n, generator).transpose(1, 2)).view(n, M, M, 2)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    x = F.adaptive_avg_pool2d(x, size)  # [n, 1, size, size], area averaging
    return x.squeeze(1).clamp(0.0, 1.0)
