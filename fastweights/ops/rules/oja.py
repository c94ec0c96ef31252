"""Oja's rule as a fast-weight learning rule (recurrent form only).

    S_t = S_{t-1} + β_t (k_t − S_{t-1} v_t) v_tᵀ
    (paper: W_t = W_{t-1} + β_t v_t ⊗ (k_t − W_{t-1}ᵀ v_t))
    o_t = S_tᵀ q_t

Oja 1982; as a fast-weight rule in Irie, Faccio, Schmidhuber 2022, "Neural Differential Equations
for Learning to Program Neural Nets Through Continuous Learning Rules" (arXiv:2206.01649). The
correction ``S v`` mixes the key channels through the value, so the chunk products of the delta
rule (which correct along ``k``) do not apply: there is no chunkwise-parallel form, by design.
``β`` is one rate per head.
"""

from __future__ import annotations

from torch import Tensor

from fastweights.ops.rule import LearningRule, RuleSpec, recurrent


def step(S: Tensor, q_t: Tensor, k_t: Tensor, v_t: Tensor, beta_t: Tensor) -> tuple[Tensor, Tensor]:
    """One token: ``S [B, H, K, V]``; ``q_t, k_t [B, H, K]``; ``v_t [B, H, V]``; ``beta_t [B, H]``.

    ``q_t`` comes scaled. Returns ``(o_t [B, H, V], S_t)``.
    """
    recon = (S @ v_t.unsqueeze(-1)).squeeze(-1)  # S v: [B, H, K]
    S = S + (beta_t.unsqueeze(-1) * (k_t - recon)).unsqueeze(-1) * v_t.unsqueeze(-2)
    return (q_t.unsqueeze(-2) @ S).squeeze(-2), S


# as a layer: L2-normalised q and k, a learned β (as DeltaNet)
oja_rule = LearningRule(
    "oja", step, {"recurrent": recurrent(step)}, per_channel_beta=False,
    layer=RuleSpec(feature_map="identity", norm="l2", learn_beta=True),
)  # fmt: skip
