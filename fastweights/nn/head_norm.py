"""The read-out of the published delta layers: per-head RMSNorm, an optional output gate, o_proj.

    y = W_o · concat_h( RMSNorm(o_h) ⊙ w )                       (use_gate = False)
    y = W_o · concat_h( RMSNorm(o_h) ⊙ w ⊙ act(W_g x)_h )         (use_gate = True)

``RMSNorm(o) = o / sqrt(mean(o²) + eps)`` over each head's ``V`` channels, with one weight
``w [V]`` shared by the heads; ``act`` is swish (``z · σ(z)``) or ``σ``. This is the output of
DeltaNet (Yang et al. 2024, arXiv:2406.06484) and Gated DeltaNet (Yang, Kautz, Hatamizadeh 2025,
arXiv:2412.06464) as fla builds them (``RMSNorm`` / ``FusedRMSNormGated``, then ``o_proj``); the
submodules carry fla's names (``o_norm``, ``g_proj``, ``o_proj``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

GATE_ACTIVATIONS = ("swish", "silu", "sigmoid")  # swish and silu are the same function


class GatedRMSNorm(nn.Module):
    """``RMSNorm(x) ⊙ w ⊙ act(g)`` over the last dimension (fla's ``FusedRMSNormGated``)."""

    def __init__(self, dim: int, eps: float = 1e-5, activation: str = "swish") -> None:
        super().__init__()
        if activation not in GATE_ACTIVATIONS:
            raise ValueError(f"activation must be one of {GATE_ACTIVATIONS}, got {activation!r}")
        self.eps, self.activation = eps, activation
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor, g: Tensor) -> Tensor:
        gate = torch.sigmoid(g) if self.activation == "sigmoid" else F.silu(g)
        return F.rms_norm(x, self.weight.shape, self.weight, self.eps) * gate


class HeadReadout(nn.Module):
    """``o [B, T, H·V]`` (and the layer input ``x``) -> ``y [B, T, d_model]``, as above."""

    def __init__(
        self, d_model: int, n_heads: int, d_value: int, *, use_gate: bool, eps: float,
        gate_activation: str = "swish",
    ) -> None:  # fmt: skip
        super().__init__()
        if not isinstance(eps, float | int) or isinstance(eps, bool) or not eps > 0:
            raise ValueError(f"norm_eps must be a positive number, got {eps!r}")
        self.n_heads, self.d_value = n_heads, d_value
        self.g_proj = nn.Linear(d_model, n_heads * d_value, bias=False) if use_gate else None
        self.o_norm: nn.Module = (
            GatedRMSNorm(d_value, eps, gate_activation) if use_gate else nn.RMSNorm(d_value, eps)
        )
        self.o_proj = nn.Linear(n_heads * d_value, d_model, bias=False)

    def forward(self, o: Tensor, x: Tensor) -> Tensor:
        B, T, _ = o.shape
        o = o.view(B, T, self.n_heads, self.d_value)  # [B, T, H, V]
        if self.g_proj is None:
            o = self.o_norm(o)
        else:
            o = self.o_norm(o, self.g_proj(x).view(B, T, self.n_heads, self.d_value))
        return self.o_proj(o.flatten(2))
