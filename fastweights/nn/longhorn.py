"""``LonghornLayer``: Longhorn's Mamba-style block over the ``longhorn`` rule (arXiv:2407.14207).

    x, z = W_x u, W_z u                                   (d_inner = expand · d_model each)
    x = silu(conv(x))                                     (causal depthwise, conv_size taps)
    k, q = W_k x, W_q x  [B, T, H, d_state];  β = σ(W_β x) [B, T, H, V]   (one rate per channel)
    S_t = S_{t-1} + k_t (ε_t ⊙ (x_t − S_{t-1}ᵀ k_t))ᵀ,  ε = β / (1 + β‖k‖²),  y_t = S_tᵀ q_t
    out = W_o (y ⊙ silu(z))

as Mamba's block with Longhorn's state update (Liu et al. 2024; the values are the convolved
inputs themselves, the keys and queries are projections of them as Mamba's B and C, and the
per-channel β plays Mamba's Δ). The ``d_inner`` channels are split over ``n_heads`` heads of
``V = d_inner / n_heads`` channels, each with its own ``d_state``-dimensional key and query
(``n_heads = 1`` is the paper's single key per layer). Left out: Mamba's ``D`` skip (the rule
layer's read-out sees the rule's output and ``u`` only). State: ``FastWeightState(fast [B, H,
d_state, V], conv [B, d_inner, conv_size − 1])``. With per-channel rates the chunk form runs
``H·V`` heads of one channel (``docs/ops.md``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fastweights.nn.rule_layer import RuleInputs, RuleLayer, check_heads, check_positive_int
from fastweights.nn.short_conv import ShortConvolution


class LonghornProjection(nn.Module):
    """``u [B, T, d_model]`` -> ``RuleInputs``: keys, queries, values and per-channel rates."""

    def __init__(
        self, d_model: int, n_heads: int, d_inner: int, d_state: int, conv_size: int
    ) -> None:
        super().__init__()
        self.n_heads, self.d_value, self.d_state = n_heads, d_inner // n_heads, d_state
        self.x_proj = nn.Linear(d_model, d_inner, bias=False)
        self.conv1d = ShortConvolution(d_inner, conv_size)  # SiLU inside, as Mamba
        self.kq_proj = nn.Linear(d_inner, 2 * n_heads * d_state, bias=False)
        self.b_proj = nn.Linear(d_inner, d_inner)

    def forward(self, u: Tensor, conv_cache: Tensor | None = None) -> RuleInputs:
        B, T, _ = u.shape
        x, cache = self.conv1d(self.x_proj(u), conv_cache)  # [B, T, d_inner]
        k, q = self.kq_proj(x).view(B, T, 2, self.n_heads, self.d_state).unbind(2)  # [B, T, H, N]
        v = x.view(B, T, self.n_heads, self.d_value)  # [B, T, H, V]
        beta = torch.sigmoid(self.b_proj(x)).view(B, T, self.n_heads, self.d_value)
        return RuleInputs(q, k, v, beta, {}, cache)


class LonghornReadout(nn.Module):
    """``y [B, T, d_inner]`` and the block input ``u`` -> ``W_o (y ⊙ silu(W_z u))``."""

    def __init__(self, d_model: int, d_inner: int) -> None:
        super().__init__()
        self.z_proj = nn.Linear(d_model, d_inner, bias=False)
        self.out_proj = nn.Linear(d_inner, d_model, bias=False)

    def forward(self, y: Tensor, u: Tensor) -> Tensor:
        return self.out_proj(y * F.silu(self.z_proj(u)))


class LonghornLayer(RuleLayer):
    """Longhorn (arXiv:2407.14207): a Mamba-style block whose recurrence is ``longhorn``."""

    def __init__(
        self,
        d_model: int,
        n_heads: int = 1,
        *,
        expand: int = 2,
        d_state: int = 16,
        conv_size: int = 4,
        impl: str | None = None,
        chunk_size: int = 64,
    ) -> None:
        check_heads(d_model, n_heads)
        for name, value in (("expand", expand), ("d_state", d_state)):
            check_positive_int(name, value)
        d_inner = expand * d_model
        # the query scale is 1, as Mamba's C reads the state unscaled
        super().__init__("longhorn", impl=impl, chunk_size=chunk_size, scale=1.0,
                         carries_conv=True)  # fmt: skip
        self.project = LonghornProjection(d_model, n_heads, d_inner, d_state, conv_size)
        self.out = LonghornReadout(d_model, d_inner)

    def read_out(self, o: Tensor, x: Tensor) -> Tensor:
        return self.out(o, x)  # the output gate reads the block input
