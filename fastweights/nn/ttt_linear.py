"""``TTTLinear``: the TTT-Linear layer of Sun et al. 2024 (arXiv:2407.04620), online (b = 1).

    q, k, v = θ_Q x, θ_K x, θ_V x                  [B, T, H, D]  (L2-normalised q, k)
    η_t = η_base · σ(w_η x_t)                       [B, T, H]     (the learnable inner rate)
    W_t = W_{t−1} − η_t ∇_W ½‖k_t + LN(W k_t) − v_t‖²              (``ttt_linear`` with v − k)
    z_t = q_t + LN(W_t q_t)                          (f(q; W_t), the inner model's output)
    y = W_o · RMSNorm_h(z)

The residual of ``f(x) = x + LN(W x)`` is folded into the rule's target (``v − k``); the rule
reads ``o_t = W_t q_t`` and the read-out ``out(o, q)`` computes ``z = q + LN(o)`` (its first
argument is the rule's ``o``, as every rule layer's, so the analysis hooks see it).
One inner step per token (mini-batch ``b = 1``): the paper's mini-batches (``b = 16``, in
``fastweights.ops.rules.ttt_minibatch``) tie the recurrence to where each mini-batch starts,
which a layer called on any segment cannot keep. The keys are L2-normalised here (the paper's
are plain projections) so that ``η_base`` keeps its meaning at any width; the inner LayerNorm has
no learned scale and shift (the rule contract carries no per-head parameters).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from fastweights.nn.delta_projection import l2_norm
from fastweights.nn.rule_layer import RuleInputs, RuleLayer, check_heads
from fastweights.ops.rules.ttt_linear import layer_norm


class TTTProjection(nn.Module):
    """``x`` -> ``RuleInputs(q, k, v − k, η)``: the residual is folded into the target."""

    def __init__(self, d_model: int, n_heads: int, d_head: int, eta_base: float) -> None:
        super().__init__()
        self.n_heads, self.d_head, self.eta_base = n_heads, d_head, eta_base
        self.qkv = nn.Linear(d_model, 3 * n_heads * d_head, bias=False)
        self.lr = nn.Linear(d_model, n_heads)

    def forward(self, x: Tensor, conv_cache: Tensor | None = None) -> RuleInputs:
        if conv_cache is not None:
            raise ValueError("TTTLinear has no short convolution: conv_cache must be None")
        B, T, _ = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, self.n_heads, self.d_head).unbind(2)  # [B, T, H, D]
        q, k = l2_norm(q), l2_norm(k)
        eta = self.eta_base * torch.sigmoid(self.lr(x))  # [B, T, H]
        return RuleInputs(q, k, v - k, eta, {})


class TTTReadout(nn.Module):
    """``o [B, T, H·V]`` and ``q [B, T, H, K]`` -> ``W_o · RMSNorm_h(q + LN(o))``."""

    def __init__(self, d_model: int, n_heads: int, d_head: int, eps: float) -> None:
        super().__init__()
        self.n_heads, self.d_head = n_heads, d_head
        self.norm = nn.RMSNorm(d_head, eps=eps)
        self.o_proj = nn.Linear(d_model, d_model, bias=False)

    def forward(self, o: Tensor, q: Tensor) -> Tensor:
        B, T, _ = o.shape
        z = q + layer_norm(o.view(B, T, self.n_heads, self.d_head))[0]  # f(q; W_t)
        return self.o_proj(self.norm(z).flatten(2))


class TTTLinear(RuleLayer):
    """TTT-Linear (arXiv:2407.04620) over the ``ttt_linear`` rule, one inner step per token."""

    def __init__(
        self, d_model: int, n_heads: int, *, eta_base: float = 1.0, norm_eps: float = 1e-5,
        impl: str | None = None, chunk_size: int = 64,
    ) -> None:  # fmt: skip
        check_heads(d_model, n_heads)
        if isinstance(eta_base, bool) or not isinstance(eta_base, int | float) or eta_base <= 0:
            raise ValueError(f"eta_base must be a positive number, got {eta_base!r}")
        d_head = d_model // n_heads
        super().__init__("ttt_linear", impl=impl, chunk_size=chunk_size, scale=1.0,
                         carries_conv=False)  # fmt: skip
        self.project = TTTProjection(d_model, n_heads, d_head, float(eta_base))
        self.out = TTTReadout(d_model, n_heads, d_head, norm_eps)

    def forward(self, x: Tensor, state: Tensor | None = None) -> tuple[Tensor, Tensor]:
        fast, _ = self._unpack(state)
        inputs = self.project(x)
        o, fast = self.rule(
            inputs.q, inputs.k, inputs.v, inputs.beta, impl=self.impl, scale=self.scale,
            initial_state=fast, chunk_size=self.chunk_size,
        )  # fmt: skip
        return self.out(o.flatten(2), inputs.q), fast  # the read-out adds the residual q
