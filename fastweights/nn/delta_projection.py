"""``DeltaProjection``: the slow net of DeltaNet and Gated DeltaNet, as fla builds them.

    q = norm(act(conv_q(W_q x))),  k = norm(act(conv_k(W_k x))),  v = silu(conv_v(W_v x))
    β = σ(W_β x)            (× 2 with allow_neg_eigval: β ∈ (0, 2); β = 1 without use_beta)
    g = −exp(A_log) · softplus(W_a x + dt_bias)         (Gated DeltaNet's log-decay, decay=True)

``conv_*`` are causal depthwise short convolutions (``ShortConvolution``, kernel ``conv_size``);
``act`` is SiLU (inside the convolution, as fla does), ReLU, elu+1 or the identity; ``norm`` is
fla's L2 normalisation ``x / sqrt(Σx² + 1e-6)`` or its sum normalisation ``x / max(Σ|x|, 1e-6)``.
Without the convolutions, q and k take ``act`` and v takes SiLU directly. Yang et al. 2024
(arXiv:2406.06484, fla's ``DeltaNet``) and Yang, Kautz, Hatamizadeh 2025 (arXiv:2412.06464, fla's
``GatedDeltaNet``, with ``A_log`` and ``dt_bias`` initialised as there). With ``n_v_heads`` a
multiple of ``n_heads`` (grouped value heads), value head ``j`` reads q and k of head
``j // (n_v_heads / n_heads)``: q and k are repeated so the rule sees ``n_v_heads`` heads.

Parameters carry fla's names (``q_proj``, ``q_conv1d``, ``b_proj``, ``a_proj``, ``A_log``, ...);
the three convolutions' caches travel as one tensor ``[B, 2·key_dim + value_dim, conv_size − 1]``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fastweights.nn.rule_layer import RuleInputs
from fastweights.nn.short_conv import ShortConvolution

QK_ACTIVATIONS = ("silu", "relu", "elu", "identity")
QK_NORMS = ("l2", "sum")


def l2_norm(x: Tensor, eps: float = 1e-6) -> Tensor:
    """fla's ``l2norm``: ``x / sqrt(Σ x² + eps)`` over the last dimension."""
    return x * torch.rsqrt(x.square().sum(-1, keepdim=True) + eps)


def sum_norm(x: Tensor, eps: float = 1e-6) -> Tensor:
    """fla's ``sum_norm``: ``x / max(Σ |x|, eps)`` over the last dimension."""
    return F.normalize(x, p=1, dim=-1, eps=eps)


def _activate(name: str, x: Tensor) -> Tensor:
    if name == "silu":
        return F.silu(x)
    if name == "relu":
        return F.relu(x)
    if name == "elu":
        return F.elu(x) + 1.0
    return x


class DeltaProjection(nn.Module):
    """``x [B, T, d_model]`` -> ``RuleInputs`` (q, k ``[B, T, HV, K]``, v ``[B, T, HV, V]``)."""

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        d_key: int,
        d_value: int,
        *,
        n_v_heads: int | None = None,
        use_short_conv: bool = True,
        conv_size: int = 4,
        conv_bias: bool = False,
        qk_activation: str = "silu",
        qk_norm: str = "l2",
        use_beta: bool = True,
        allow_neg_eigval: bool = False,
        decay: bool = False,
    ) -> None:
        super().__init__()
        if qk_activation not in QK_ACTIVATIONS:
            raise ValueError(f"qk_activation must be one of {QK_ACTIVATIONS}, "
                             f"got {qk_activation!r}")  # fmt: skip
        if qk_norm not in QK_NORMS:
            raise ValueError(f"qk_norm must be one of {QK_NORMS}, got {qk_norm!r}")
        n_v_heads = n_heads if n_v_heads is None else n_v_heads
        if isinstance(n_v_heads, bool) or not isinstance(n_v_heads, int) or n_v_heads % n_heads:
            raise ValueError(f"num_v_heads must be a multiple of num_heads ({n_heads}), "
                             f"got {n_v_heads!r}")  # fmt: skip
        self.n_heads, self.n_v_heads, self.d_key, self.d_value = n_heads, n_v_heads, d_key, d_value
        self.qk_activation, self.qk_norm = qk_activation, qk_norm
        self.use_beta, self.allow_neg_eigval = use_beta, allow_neg_eigval
        key_dim, value_dim = n_heads * d_key, n_v_heads * d_value
        self.q_proj = nn.Linear(d_model, key_dim, bias=False)
        self.k_proj = nn.Linear(d_model, key_dim, bias=False)
        self.v_proj = nn.Linear(d_model, value_dim, bias=False)
        self.b_proj = nn.Linear(d_model, n_v_heads, bias=False) if use_beta else None
        if decay:
            self.a_proj = nn.Linear(d_model, n_v_heads, bias=False)
            self.A_log, self.dt_bias = nn.Parameter(_a_log(n_v_heads)), nn.Parameter(_dt(n_v_heads))
            self.A_log._no_weight_decay = self.dt_bias._no_weight_decay = True  # as fla marks them
        else:
            self.a_proj = None
        self.use_short_conv = use_short_conv
        if use_short_conv:
            qk_act = "silu" if qk_activation == "silu" else None
            self.q_conv1d = ShortConvolution(key_dim, conv_size, activation=qk_act, bias=conv_bias)
            self.k_conv1d = ShortConvolution(key_dim, conv_size, activation=qk_act, bias=conv_bias)
            self.v_conv1d = ShortConvolution(value_dim, conv_size, bias=conv_bias)
        self.conv_channels = (key_dim, key_dim, value_dim)

    def forward(self, x: Tensor, conv_cache: Tensor | None = None) -> RuleInputs:
        """``x [B, T, d_model]`` (and the convolutions' cache, if the layer has them)."""
        B, T, _ = x.shape
        q, k, v = self.q_proj(x), self.k_proj(x), self.v_proj(x)
        cache = None
        if self.use_short_conv:
            caches = (None,) * 3 if conv_cache is None else conv_cache.split(self.conv_channels, 1)
            (q, cq), (k, ck), (v, cv) = (
                conv(z, c) for conv, z, c in
                zip((self.q_conv1d, self.k_conv1d, self.v_conv1d), (q, k, v), caches, strict=True)
            )  # fmt: skip
            cache = torch.cat([cq, ck, cv], dim=1)  # [B, 2·key_dim + value_dim, conv_size − 1]
        elif conv_cache is not None:
            raise ValueError("this projection has no short convolution: conv_cache must be None")
        else:
            if self.qk_activation == "silu":
                q, k = F.silu(q), F.silu(k)
            v = F.silu(v)
        q, k = (z.view(B, T, self.n_heads, self.d_key) for z in (q, k))  # [B, T, H, K]
        v = v.view(B, T, self.n_v_heads, self.d_value)  # [B, T, HV, V]
        if self.qk_activation != "silu":  # SiLU came with the convolution (or just above)
            q, k = _activate(self.qk_activation, q), _activate(self.qk_activation, k)
        norm = l2_norm if self.qk_norm == "l2" else sum_norm
        q, k = norm(q), norm(k)
        if self.n_v_heads != self.n_heads:  # value head j reads q, k of head j // group
            group = self.n_v_heads // self.n_heads
            q, k = q.repeat_interleave(group, dim=2), k.repeat_interleave(group, dim=2)
        beta = torch.sigmoid(self.b_proj(x)) if self.b_proj is not None else x.new_ones(
            B, T, self.n_v_heads)  # fmt: skip
        if self.allow_neg_eigval:
            beta = 2.0 * beta
        gates = {}
        if self.a_proj is not None:
            gates["g"] = -self.A_log.exp() * F.softplus(self.a_proj(x) + self.dt_bias)
        return RuleInputs(q, k, v, beta, gates, cache)


def _a_log(n: int) -> Tensor:
    """fla's initialisation: ``A ~ U(0, 16)``, stored as ``log A``."""
    return torch.empty(n).uniform_(0, 16).log()


def _dt(n: int, dt_min: float = 1e-3, dt_max: float = 0.1, floor: float = 1e-4) -> Tensor:
    """fla's (and Mamba's) ``dt_bias``: ``dt`` log-uniform in [dt_min, dt_max], stored as
    ``softplus⁻¹(dt) = dt + log(1 − exp(−dt))``, so ``softplus(dt_bias) = dt`` at the start."""
    dt = torch.exp(torch.rand(n) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
    dt = dt.clamp_min(floor)
    return dt + torch.log(-torch.expm1(-dt))
