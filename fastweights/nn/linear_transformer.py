"""``LinearTransformer``: the linear Transformer of Katharopoulos et al. 2020 (arXiv:2006.16236).

    φ(x) = elu(x) + 1,   S_t = S_{t−1} + φ(k_t) v_tᵀ,   z_t = z_{t−1} + φ(k_t)
    o_t  = S_tᵀ φ(q_t) / (z_tᵀ φ(q_t) + eps),          y_t = W_o o_t

The normaliser rides along in the ``sum`` rule: each value gets one more channel equal to 1,
``v'_t = [v_t, 1]``, so the last column of the state ``S' = [S, z]`` is the running key sum and
the rule's last output channel is the denominator ``z_tᵀ φ(q_t)`` — in every form of the rule
(recurrent, chunk, Triton), and the state that carries across calls carries ``z``
(``[B, H, K, V + 1]``). ``eps = 1e-6`` as in the paper's code; the projections have no bias and
carry fla's names (``q_proj``, ``k_proj``, ``v_proj``, ``o_proj``). The sum rule's query scale
cancels in the ratio, so the layer uses 1.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fastweights.nn.rule_layer import RuleInputs, RuleLayer, check_heads


class LinearAttentionProjection(nn.Module):
    """``x [B, T, d_model]`` -> ``φ(q), φ(k) [B, T, H, D]``, ``[v, 1] [B, T, H, D + 1]``, β = 1."""

    def __init__(self, d_model: int, n_heads: int) -> None:
        super().__init__()
        self.n_heads, self.d_head = n_heads, d_model // n_heads
        self.q_proj = nn.Linear(d_model, d_model, bias=False)
        self.k_proj = nn.Linear(d_model, d_model, bias=False)
        self.v_proj = nn.Linear(d_model, d_model, bias=False)

    def forward(self, x: Tensor, conv_cache: Tensor | None = None) -> RuleInputs:
        if conv_cache is not None:
            raise ValueError("the linear Transformer has no short convolution: conv_cache is None")
        B, T, _ = x.shape
        q, k, v = (proj(x).view(B, T, self.n_heads, self.d_head)
                   for proj in (self.q_proj, self.k_proj, self.v_proj))  # fmt: skip
        ones = v.new_ones(B, T, self.n_heads, 1)
        beta = x.new_ones(B, T, self.n_heads)
        return RuleInputs(F.elu(q) + 1.0, F.elu(k) + 1.0, torch.cat([v, ones], dim=-1), beta, {})


class NormalisedReadout(nn.Module):
    """``[S'ᵀφ(q)] [B, T, H·(D + 1)]`` -> ``W_o (numerator / (denominator + eps))``."""

    def __init__(self, d_model: int, n_heads: int, eps: float) -> None:
        super().__init__()
        if isinstance(eps, bool) or not isinstance(eps, float | int) or eps < 0:
            raise ValueError(f"eps must be a non-negative number, got {eps!r}")
        self.n_heads, self.eps = n_heads, eps
        self.o_proj = nn.Linear(d_model, d_model, bias=False)

    def forward(self, o: Tensor) -> Tensor:
        B, T, _ = o.shape
        o = o.view(B, T, self.n_heads, -1)  # [B, T, H, D + 1]
        numerator, denominator = o[..., :-1], o[..., -1:]
        return self.o_proj((numerator / (denominator + self.eps)).flatten(2))


class LinearTransformer(RuleLayer):
    """The linear Transformer's attention layer over the ``sum`` rule, with its normaliser."""

    def __init__(
        self, d_model: int, n_heads: int, *, eps: float = 1e-6, impl: str | None = None,
        chunk_size: int = 64,
    ) -> None:  # fmt: skip
        check_heads(d_model, n_heads)
        super().__init__("sum", impl=impl, chunk_size=chunk_size, scale=1.0, carries_conv=False)
        self.project = LinearAttentionProjection(d_model, n_heads)
        self.out = NormalisedReadout(d_model, n_heads, eps)
