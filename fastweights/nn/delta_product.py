"""``DeltaProductNet``: the DeltaProduct layer of Siems et al. 2025 (arXiv:2502.10297).

DeltaNet's layer (``fastweights.nn.DeltaNet``) with ``n_h`` keys, values and rates per token::

    q = l2(silu(conv_q(W_q x)))                  [B, T, H, K]
    k_j = l2(silu(conv_k(W_k x))_j)              [B, T, H, n_h, K]    (j = 1..n_h)
    v_j = silu(conv_v(W_v x))_j                  [B, T, H, n_h, V]
    β_j = σ(W_β x)_j                             [B, T, H, n_h]       (× 2: allow_neg_eigval)
    S_t = Π_j (I − β_j k_j k_jᵀ) S_{t−1} + ...   (the ``delta_product`` rule), o_t = S_tᵀ q_t / √K
    y = W_o · RMSNorm_h(o)                       (use_gate: RMSNorm_h(o) ⊙ swish(W_g x))

``allow_neg_eigval`` (default on, as the paper's state-tracking runs) sets β ∈ (0, 2), the
eigenvalues of each Householder factor in (−1, 1) (Grazzi et al. 2025, arXiv:2411.12537).
The short convolutions, L2 normalisation and read-out are DeltaNet's (``ShortConvolution``,
``l2_norm``, ``HeadReadout``); the three caches travel as one tensor
``[B, H·K + H·n_h·(K + V), conv_size − 1]``. ``n_h = 1`` is DeltaNet's layer. The gated variant
(a forget gate per token) is not built here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fastweights.nn.delta_projection import l2_norm
from fastweights.nn.head_norm import HeadReadout
from fastweights.nn.rule_layer import RuleInputs, RuleLayer, check_heads, check_positive_int
from fastweights.nn.short_conv import ShortConvolution


class DeltaProductProjection(nn.Module):
    """``x [B, T, d_model]`` -> ``RuleInputs`` with ``n_h`` keys, values and rates per token."""

    def __init__(
        self, d_model: int, n_heads: int, d_key: int, d_value: int, n_h: int, *,
        use_short_conv: bool, conv_size: int, allow_neg_eigval: bool,
    ) -> None:  # fmt: skip
        super().__init__()
        self.n_heads, self.d_key, self.d_value, self.n_h = n_heads, d_key, d_value, n_h
        self.allow_neg_eigval, self.use_short_conv = allow_neg_eigval, use_short_conv
        self.conv_channels = (n_heads * d_key, n_heads * n_h * d_key, n_heads * n_h * d_value)
        self.q_proj, self.k_proj, self.v_proj = (
            nn.Linear(d_model, c, bias=False) for c in self.conv_channels
        )
        self.b_proj = nn.Linear(d_model, n_heads * n_h, bias=False)
        if use_short_conv:
            self.q_conv1d, self.k_conv1d, self.v_conv1d = (
                ShortConvolution(c, conv_size) for c in self.conv_channels
            )

    def forward(self, x: Tensor, conv_cache: Tensor | None = None) -> RuleInputs:
        B, T, _ = x.shape
        H, n_h = self.n_heads, self.n_h
        q, k, v = self.q_proj(x), self.k_proj(x), self.v_proj(x)
        cache = None
        if self.use_short_conv:
            caches = (None,) * 3 if conv_cache is None else conv_cache.split(self.conv_channels, 1)
            convs = (self.q_conv1d, self.k_conv1d, self.v_conv1d)
            (q, cq), (k, ck), (v, cv) = (
                conv(z, c) for conv, z, c in zip(convs, (q, k, v), caches, strict=True)
            )
            cache = torch.cat([cq, ck, cv], dim=1)  # [B, Σ channels, conv_size − 1]
        elif conv_cache is not None:
            raise ValueError("this projection has no short convolution: conv_cache must be None")
        else:
            q, k, v = F.silu(q), F.silu(k), F.silu(v)
        q = l2_norm(q.view(B, T, H, self.d_key))  # [B, T, H, K]
        k = l2_norm(k.view(B, T, H, n_h, self.d_key))  # [B, T, H, n_h, K]
        v = v.view(B, T, H, n_h, self.d_value)  # [B, T, H, n_h, V]
        beta = torch.sigmoid(self.b_proj(x)).view(B, T, H, n_h)  # [B, T, H, n_h]
        if self.allow_neg_eigval:
            beta = 2.0 * beta
        return RuleInputs(q, k, v, beta, {}, cache)


class DeltaProductNet(RuleLayer):
    """DeltaProduct (arXiv:2502.10297): n_h Householder steps per token (``delta_product``)."""

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        *,
        n_h: int = 2,
        use_gate: bool = False,
        use_short_conv: bool = True,
        conv_size: int = 4,
        allow_neg_eigval: bool = True,
        norm_eps: float = 1e-5,
        impl: str | None = None,
        chunk_size: int = 64,
    ) -> None:
        check_heads(d_model, n_heads)
        check_positive_int("n_h", n_h)
        d_head = d_model // n_heads
        super().__init__("delta_product", impl=impl, chunk_size=chunk_size, scale=d_head**-0.5,
                         carries_conv=use_short_conv)  # fmt: skip
        self.n_h = n_h
        self.project = DeltaProductProjection(
            d_model, n_heads, d_head, d_head, n_h, use_short_conv=use_short_conv,
            conv_size=conv_size, allow_neg_eigval=allow_neg_eigval,
        )  # fmt: skip
        self.out = HeadReadout(d_model, n_heads, d_head, use_gate=use_gate, eps=norm_eps)

    def read_out(self, o: Tensor, x: Tensor) -> Tensor:
        return self.out(o, x)  # the output gate reads x
