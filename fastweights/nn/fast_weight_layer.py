"""``FastWeightLayer``: the minimal fast-weight mixer over any rule in ``fastweights.ops.RULES``.

A slow net (``RuleInputs``, its own submodule so a forward hook sees exactly what the rule sees)
maps ``x [B, T, d_model]`` to the rule's inputs per head; the rule programs and reads the fast
weights; a linear map brings the heads back to ``d_model``::

    q, k = norm(φ(W_q x)), norm(φ(W_k x));  v = W_v x;  β = σ(w_β x);  g = log σ(w_g x)
    o, S = rule(q, k, v, β[, g]; S);  y = W_o o

The defaults of φ, norm and whether β is learned (else 1) are the rule's own
(``LearningRule.layer``, a ``RuleSpec`` set in the rule's file); ``feature_map=``, ``norm=`` and
``learn_beta=`` override them. ``impl`` names the rule's form (default ``chunk`` where the rule has
one, else ``recurrent``); ``chunk_size`` (default 64) is passed to every form, which may ignore it.

Presets of the papers: ``sum`` with φ = elu+1 and sum normalisation and β = 1 is the linear
Transformer (Katharopoulos et al. 2020); ``delta`` with L2-normalised keys is DeltaNet
(Schlag et al. 2021, arXiv:2102.11174, modern normalisation); ``dpfp`` features give the DPFP
variants. These are the minimal forms of those layers (no output norm or gate, query scale 1); the
published layers as their papers and fla build them are ``DeltaNet``, ``GatedDeltaNet`` and
``LinearTransformer``. ``forward(x, state=None) -> (y, state)`` as every ``RuleLayer``.

``short_conv = n > 0`` adds DeltaNet's short convolution (Yang et al. 2024, arXiv:2406.06484):
a causal depthwise convolution of ``n`` taps and SiLU on the projected q, k and v, before the
feature map and normalisation (``q = norm(φ(silu(conv(W_q x))))``, ``v = silu(conv(W_v x))``;
``ShortConvolution``). It lives in the slow net, so the hook still sees what the rule sees; the
layer's state is then ``FastWeightState(fast [B, H, K, V], conv [B, 3·H·D, n − 1])``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fastweights.nn.rule_layer import RuleInputs, RuleLayer, check_heads, is_int
from fastweights.nn.short_conv import ShortConvolution
from fastweights.ops import apply_feature_map, feature_dim


class RuleProjection(nn.Module):
    """The slow net: ``x [B, T, d_model]`` -> ``RuleInputs`` for ``n_heads`` heads."""

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        d_head: int,
        *,
        gates: tuple[str, ...],
        feature_map: str,
        feature_options: dict[str, object],
        norm: str | None,
        learn_beta: bool,
        short_conv: int = 0,
    ) -> None:
        super().__init__()
        self.n_heads, self.d_head = n_heads, d_head
        self.feature_map, self.feature_options, self.norm = feature_map, feature_options, norm
        self.qkv = nn.Linear(d_model, 3 * n_heads * d_head, bias=False)
        self.conv = ShortConvolution(3 * n_heads * d_head, short_conv) if short_conv else None
        self.beta = nn.Linear(d_model, n_heads) if learn_beta else None
        self.gates = nn.ModuleDict({name: nn.Linear(d_model, n_heads) for name in gates})
        for gate in self.gates.values():
            nn.init.constant_(gate.bias, 4.0)  # decay near 1 at the start: log σ(4) ≈ −0.018

    def _features(self, x: Tensor) -> Tensor:
        x = apply_feature_map(self.feature_map, x, **self.feature_options)
        return x if self.norm is None else apply_feature_map(self.norm, x)

    def forward(self, x: Tensor, conv_cache: Tensor | None = None) -> RuleInputs:
        """``x [B, T, d_model]`` (and the short convolution's cache, if it has one)."""
        B, T, _ = x.shape
        qkv, cache = self.qkv(x), None  # [B, T, 3·H·D]
        if self.conv is not None:
            qkv, cache = self.conv(qkv, conv_cache)
        elif conv_cache is not None:
            raise ValueError("this projection has no short convolution: conv_cache must be None")
        q, k, v = qkv.view(B, T, 3, self.n_heads, self.d_head).unbind(2)  # [B, T, H, D]
        beta = (
            torch.sigmoid(self.beta(x)) if self.beta is not None else x.new_ones(B, T, self.n_heads)
        )
        gates = {name: F.logsigmoid(gate(x)) for name, gate in self.gates.items()}
        return RuleInputs(self._features(q), self._features(k), v, beta, gates, cache)


class FastWeightLayer(RuleLayer):
    """A mixer: slow net -> learning rule over ``n_heads`` fast weight matrices -> output map."""

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        *,
        rule: str = "delta",
        feature_map: str | None = None,
        feature_options: dict[str, object] | None = None,
        norm: str | None = "default",
        learn_beta: bool | None = None,
        impl: str | None = None,
        chunk_size: int = 64,
        short_conv: int = 0,
    ) -> None:
        check_heads(d_model, n_heads)
        if not is_int(short_conv) or not (short_conv == 0 or short_conv >= 2):
            raise ValueError(
                f"short_conv must be 0 (none) or a kernel size >= 2, got {short_conv!r}"
            )
        # scale 1: the feature maps and normalisations set the size of q and k
        super().__init__(rule, impl=impl, chunk_size=chunk_size, scale=1.0,
                         carries_conv=bool(short_conv))  # fmt: skip
        self.short_conv = short_conv
        defaults = self.rule.layer  # the rule's own layer defaults (ops.rule.RuleSpec)
        d_head = d_model // n_heads
        feature_map = feature_map or defaults.feature_map
        options = feature_options or {}
        self.project = RuleProjection(
            d_model, n_heads, d_head, gates=self.rule.gates, feature_map=feature_map,
            feature_options=options, norm=defaults.norm if norm == "default" else norm,
            learn_beta=defaults.learn_beta if learn_beta is None else learn_beta,
            short_conv=short_conv,
        )  # fmt: skip
        self.d_key = feature_dim(feature_map, d_head, **options)
        self.out = nn.Linear(n_heads * d_head, d_model, bias=False)
