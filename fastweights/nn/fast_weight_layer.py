"""``FastWeightLayer``: a fast-weight mixer over any learning rule in ``fastweights.ops.RULES``.

A slow net (``RuleInputs``, its own submodule so a forward hook sees exactly what the rule sees)
maps ``x [B, T, d_model]`` to the rule's inputs per head; the rule programs and reads the fast
weights; a linear map brings the heads back to ``d_model``::

    q, k = norm(φ(W_q x)), norm(φ(W_k x));  v = W_v x;  β = σ(w_β x);  g = log σ(w_g x)
    o, S = rule(q, k, v, β[, g]; S);  y = W_o o

Presets of the papers: ``sum`` with φ = elu+1 and sum normalisation and β = 1 is the linear
Transformer (Katharopoulos et al. 2020); ``delta`` with L2-normalised keys is DeltaNet
(Schlag et al. 2021, arXiv:2102.11174, modern normalisation); ``dpfp`` features give the DPFP
variants. ``forward(x, state=None) -> (y, state)`` with ``state [B, H, K, V]``: carrying it
across calls equals one long call.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fastweights.ops import RULES, apply_feature_map, feature_dim

# Per rule: feature map, normalisation of q and k, and whether β is learned (else 1).
RULE_DEFAULTS: dict[str, tuple[str, str | None, bool]] = {
    "sum": ("elu+1", "sum", False),
    "delta": ("identity", "l2", True),
    "gated_delta": ("identity", "l2", True),
    "oja": ("identity", "l2", True),
}


class RuleInputs(NamedTuple):
    """What the rule sees: ``q, k [B, T, H, K]``, ``v [B, T, H, V]``, ``beta [B, T, H]``, gates."""

    q: Tensor
    k: Tensor
    v: Tensor
    beta: Tensor
    gates: dict[str, Tensor]


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
    ) -> None:
        super().__init__()
        self.n_heads, self.d_head = n_heads, d_head
        self.feature_map, self.feature_options, self.norm = feature_map, feature_options, norm
        self.qkv = nn.Linear(d_model, 3 * n_heads * d_head, bias=False)
        self.beta = nn.Linear(d_model, n_heads) if learn_beta else None
        self.gates = nn.ModuleDict({name: nn.Linear(d_model, n_heads) for name in gates})
        for gate in self.gates.values():
            nn.init.constant_(gate.bias, 4.0)  # decay near 1 at the start: log σ(4) ≈ −0.018

    def _features(self, x: Tensor) -> Tensor:
        x = apply_feature_map(self.feature_map, x, **self.feature_options)
        return x if self.norm is None else apply_feature_map(self.norm, x)

    def forward(self, x: Tensor) -> RuleInputs:
        B, T, _ = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, self.n_heads, self.d_head).unbind(2)  # [B, T, H, D]
        beta = (
            torch.sigmoid(self.beta(x)) if self.beta is not None else x.new_ones(B, T, self.n_heads)
        )
        gates = {name: F.logsigmoid(gate(x)) for name, gate in self.gates.items()}
        return RuleInputs(self._features(q), self._features(k), v, beta, gates)


class FastWeightLayer(nn.Module):
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
    ) -> None:
        super().__init__()
        if rule not in RULES:
            raise ValueError(f"unknown rule {rule!r}; known rules: {', '.join(RULES)}")
        _check_heads(d_model, n_heads)
        default_map, default_norm, default_beta = RULE_DEFAULTS[rule]
        self.rule = RULES[rule]
        self.impl = impl or ("chunk" if "chunk" in self.rule.forms else "recurrent")
        available = [*self.rule.forms, *self.rule.kernels]  # kernels: impl="triton", ...
        if self.impl not in available:
            raise ValueError(
                f"rule {rule!r} has no {self.impl!r} form; available: {', '.join(available)}"
            )
        self.chunk_size = chunk_size
        d_head = d_model // n_heads
        feature_map = feature_map or default_map
        options = feature_options or {}
        self.project = RuleProjection(
            d_model, n_heads, d_head, gates=self.rule.gates, feature_map=feature_map,
            feature_options=options, norm=default_norm if norm == "default" else norm,
            learn_beta=default_beta if learn_beta is None else learn_beta,
        )  # fmt: skip
        self.d_key = feature_dim(feature_map, d_head, **options)
        self.out = nn.Linear(n_heads * d_head, d_model, bias=False)

    def forward(self, x: Tensor, state: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``x [B, T, d_model]`` -> ``(y [B, T, d_model], state [B, H, K, V])``."""
        inputs = self.project(x)
        # scale 1: the feature maps and normalisations above set the size of q and k
        o, state = self.rule(
            inputs.q, inputs.k, inputs.v, inputs.beta, impl=self.impl, scale=1.0,
            initial_state=state, chunk_size=self.chunk_size, **inputs.gates,
        )  # fmt: skip
        return self.out(o.flatten(2)), state


def _check_heads(d_model: int, n_heads: int) -> None:
    for name, value in (("d_model", d_model), ("n_heads", n_heads)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if d_model % n_heads:
        raise ValueError(f"d_model ({d_model}) must be divisible by n_heads ({n_heads})")
