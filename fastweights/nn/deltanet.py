"""The published delta-rule layers, as their papers and fla 0.6 build them.

``DeltaNet`` (Yang, Wang, Shen, Panda, Kim 2024, arXiv:2406.06484; fla's ``DeltaNet``)::

    q, k, v, β = DeltaProjection(x)                  (short convolutions, SiLU, L2 norm, σ)
    S_t = (I − β_t k_t k_tᵀ) S_{t−1} + β_t k_t v_tᵀ,  o_t = S_tᵀ q_t / √K
    y   = W_o · RMSNorm_h(o)        (use_gate: RMSNorm_h(o) ⊙ swish(W_g x))

``GatedDeltaNet`` (Yang, Kautz, Hatamizadeh 2025, arXiv:2412.06464; fla's ``GatedDeltaNet``)::

    S_t = exp(g_t) (I − β_t k_t k_tᵀ) S_{t−1} + β_t k_t v_tᵀ,
    g_t = −exp(A_log) · softplus(W_a x_t + dt_bias)
    y   = W_o · (RMSNorm_h(o) ⊙ swish(W_g x))                       (use_gate, the default)

The options carry fla's names and defaults (``expand_k``, ``expand_v``, ``use_gate``,
``use_short_conv``, ``conv_size``, ``conv_bias``, ``qk_activation``, ``qk_norm``, ``use_beta``,
``allow_neg_eigval``, ``norm_eps``; Gated DeltaNet: ``head_dim``, ``expand_v``, ``num_v_heads``,
``output_gate_activation``), and so do the parameters, so ``fastweights.interop.fla`` moves fla
weights in by name. One difference: ``GatedDeltaNet``'s ``head_dim`` defaults to
``d_model // n_heads`` (fla's default of 256 is sized for hidden size 2048). ``impl`` and
``chunk_size`` pick the rule's form (``fastweights.ops``), as for every rule layer.
"""

from __future__ import annotations

import math

from torch import Tensor

from fastweights.nn.delta_projection import DeltaProjection
from fastweights.nn.head_norm import HeadReadout
from fastweights.nn.rule_layer import RuleLayer, check_heads, check_positive_int


def _width(size: int, expand: float, n_heads: int, name: str) -> int:
    """``size · expand``, which must be an integer that ``n_heads`` divides."""
    if isinstance(expand, bool) or not isinstance(expand, int | float) or expand <= 0:
        raise ValueError(f"{name} must be a positive number, got {expand!r}")
    width = size * expand
    if not math.isclose(width, round(width)) or round(width) % n_heads:
        raise ValueError(f"{size} · {name} = {width} must be an integer divisible by "
                         f"{n_heads} (the heads)")  # fmt: skip
    return round(width)


class DeltaNet(RuleLayer):
    """DeltaNet (arXiv:2406.06484) over the ``delta`` rule, as fla's ``DeltaNet`` layer."""

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        *,
        expand_k: float = 1.0,
        expand_v: float = 1.0,
        use_beta: bool = True,
        use_gate: bool = False,
        use_short_conv: bool = True,
        conv_size: int = 4,
        conv_bias: bool = False,
        allow_neg_eigval: bool = False,
        qk_activation: str = "silu",
        qk_norm: str = "l2",
        norm_eps: float = 1e-5,
        impl: str | None = None,
        chunk_size: int = 64,
    ) -> None:
        check_heads(d_model, n_heads)
        d_key = _width(d_model, expand_k, n_heads, "expand_k") // n_heads
        d_value = _width(d_model, expand_v, n_heads, "expand_v") // n_heads
        super().__init__("delta", impl=impl, chunk_size=chunk_size, scale=d_key**-0.5,
                         carries_conv=use_short_conv)  # fmt: skip
        self.project = DeltaProjection(
            d_model, n_heads, d_key, d_value, use_short_conv=use_short_conv, conv_size=conv_size,
            conv_bias=conv_bias, qk_activation=qk_activation, qk_norm=qk_norm,
            use_beta=use_beta, allow_neg_eigval=allow_neg_eigval,
        )  # fmt: skip
        self.out = HeadReadout(d_model, n_heads, d_value, use_gate=use_gate, eps=norm_eps)

    def read_out(self, o: Tensor, x: Tensor) -> Tensor:
        return self.out(o, x)  # the output gate reads x


class GatedDeltaNet(RuleLayer):
    """Gated DeltaNet (arXiv:2412.06464) over the ``gated_delta`` rule, as fla's layer."""

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        *,
        head_dim: int | None = None,
        expand_v: float = 2.0,
        num_v_heads: int | None = None,
        use_gate: bool = True,
        use_short_conv: bool = True,
        conv_size: int = 4,
        conv_bias: bool = False,
        allow_neg_eigval: bool = False,
        norm_eps: float = 1e-5,
        output_gate_activation: str = "swish",
        impl: str | None = None,
        chunk_size: int = 64,
    ) -> None:
        if head_dim is None:
            check_heads(d_model, n_heads)
            head_dim = d_model // n_heads
        for name, value in (("d_model", d_model), ("n_heads", n_heads), ("head_dim", head_dim)):
            check_positive_int(name, value)
        d_value = _width(head_dim, expand_v, 1, "expand_v")  # head_dim · expand_v
        super().__init__("gated_delta", impl=impl, chunk_size=chunk_size, scale=head_dim**-0.5,
                         carries_conv=use_short_conv)  # fmt: skip
        self.project = DeltaProjection(
            d_model, n_heads, head_dim, d_value, n_v_heads=num_v_heads,
            use_short_conv=use_short_conv, conv_size=conv_size, conv_bias=conv_bias,
            allow_neg_eigval=allow_neg_eigval, decay=True,
        )  # fmt: skip
        self.out = HeadReadout(
            d_model, self.project.n_v_heads, d_value, use_gate=use_gate, eps=norm_eps,
            gate_activation=output_gate_activation,
        )  # fmt: skip

    def read_out(self, o: Tensor, x: Tensor) -> Tensor:
        return self.out(o, x)  # the output gate reads x
