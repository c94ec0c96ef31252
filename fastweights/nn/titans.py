"""``TitansMemory``: the neural long-term memory of Titans (arXiv:2501.00663) as a mixer.

    q, k, v, θ = DeltaProjection(x)                (short convolutions, SiLU, L2-normalised q, k)
    1 − α_t = σ(w_α x_t + 4),   η_t = σ(w_η x_t)  (data-dependent decay and momentum, per head)
    P_t = η_t P_{t−1} − θ_t ∇ℓ(M_{t−1}; k_t, v_t),   M_t = (1 − α_t) M_{t−1} + P_t,   o_t = M_t q_t
    y = W_o · (RMSNorm_h(o) ⊙ swish(W_g x))        (use_gate, the default; else W_o · RMSNorm_h(o))

Behrouz, Zhong, Mirrokni 2025: the memory module with a linear memory, as a sequence layer
(their "memory as a layer" without the attention and persistent-memory parts), over the
``titans`` rule. DeltaNet's projection and read-out blocks (``DeltaProjection``, ``HeadReadout``)
are reused; the gates enter the rule as log-values (``g = log(1 − α)``, ``eta = log η``), the
retention bias starts at 4 (``α ≈ 0.018``) and the momentum bias at 0 (``η = 0.5``). State:
``FastWeightState(fast [B, H, K, 2V] (memory | momentum), conv)``.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from fastweights.nn.delta_projection import DeltaProjection
from fastweights.nn.head_norm import HeadReadout
from fastweights.nn.rule_layer import RuleInputs, RuleLayer, check_heads


class TitansProjection(nn.Module):
    """DeltaNet's projection (q, k, v, θ) plus Titans' retention and momentum gates."""

    def __init__(self, d_model: int, n_heads: int, d_head: int, conv_size: int) -> None:
        super().__init__()
        self.qkv = DeltaProjection(d_model, n_heads, d_head, d_head, conv_size=conv_size)
        self.a_proj, self.e_proj = nn.Linear(d_model, n_heads), nn.Linear(d_model, n_heads)
        nn.init.constant_(self.a_proj.bias, 4.0)
        nn.init.zeros_(self.e_proj.bias)

    def forward(self, x: Tensor, conv_cache: Tensor | None = None) -> RuleInputs:
        inputs = self.qkv(x, conv_cache)
        gates = {"g": F.logsigmoid(self.a_proj(x)), "eta": F.logsigmoid(self.e_proj(x))}
        return inputs._replace(gates=gates)  # [B, T, H] each


class TitansMemory(RuleLayer):
    """Titans' linear neural memory (arXiv:2501.00663) over the ``titans`` rule."""

    def __init__(
        self, d_model: int, n_heads: int, *, use_gate: bool = True, conv_size: int = 4,
        norm_eps: float = 1e-5, impl: str | None = None, chunk_size: int = 64,
    ) -> None:  # fmt: skip
        check_heads(d_model, n_heads)
        d_head = d_model // n_heads
        super().__init__("titans", impl=impl, chunk_size=chunk_size, scale=d_head**-0.5,
                         carries_conv=True)  # fmt: skip
        self.project = TitansProjection(d_model, n_heads, d_head, conv_size)
        self.out = HeadReadout(d_model, n_heads, d_head, use_gate=use_gate, eps=norm_eps)

    def read_out(self, o: Tensor, x: Tensor) -> Tensor:
        return self.out(o, x)  # the output gate reads x
