"""The delta rule: DeltaNet, the fast weight programmer that corrects what it stores.

    v̄_t = S_{t-1}ᵀ k_t                       (what the fast weights hold for k_t)
    S_t = S_{t-1} + β_t k_t (v_t − v̄_t)ᵀ      (paper: W_t = W_{t-1} + β_t (v_t − v̄_t) ⊗ k_t)
    o_t = S_tᵀ q_t                            (the query reads after the write)

Schlag, Irie, Schmidhuber 2021, "Linear Transformers Are Secretly Fast Weight Programmers"
(arXiv:2102.11174). ``β`` is one rate per head, or one per value channel (``[B, T, H, V]``: each
value channel is then its own delta rule). Chunk form: WY/UT transform (arXiv:2406.06484), in
``fastweights.ops.rules.delta_chunk``. Forms: ``recurrent``, ``chunk``; kernel forms
``triton_recurrent`` (fused recurrent kernel) and ``triton_chunk`` (chunkwise kernels).
"""

from __future__ import annotations

from torch import Tensor

from fastweights.ops.rule import LearningRule, RuleSpec, recurrent, value_rate
from fastweights.ops.rules.delta_chunk import chunk_delta


def step(S: Tensor, q_t: Tensor, k_t: Tensor, v_t: Tensor, beta_t: Tensor) -> tuple[Tensor, Tensor]:
    """One token: ``S [B,H,K,V]``; ``q_t, k_t [B,H,K]``; ``v_t [B,H,V]``; ``beta_t [B,H(,V)]``.

    ``q_t`` comes scaled. Returns ``(o_t [B, H, V], S_t)``.
    """
    v_old = (k_t.unsqueeze(-2) @ S).squeeze(-2)  # [B, H, V]
    S = S + k_t.unsqueeze(-1) * (value_rate(beta_t, v_t) * (v_t - v_old)).unsqueeze(-2)
    return (q_t.unsqueeze(-2) @ S).squeeze(-2), S


def triton_chunk(*args: Tensor, **options: Tensor | int | float) -> tuple[Tensor, Tensor]:
    """The chunkwise Triton kernels (also gated: ``g=``); imported on first use."""
    from fastweights.ops.triton import forms

    return forms.delta_chunk(*args, **options)


def triton_recurrent(*args: Tensor, **options: Tensor | int | float) -> tuple[Tensor, Tensor]:
    """The fused recurrent Triton kernel (also gated: ``g=``); imported on first use."""
    from fastweights.ops.triton import forms

    return forms.delta_recurrent(*args, **options)


# shared with gated_delta
KERNELS = {"triton_chunk": triton_chunk, "triton_recurrent": triton_recurrent}
# as a layer: DeltaNet's L2-normalised q and k (no feature map) and a learned β
LAYER = RuleSpec(feature_map="identity", norm="l2", learn_beta=True)
delta_rule = LearningRule(
    "delta", step, {"recurrent": recurrent(step), "chunk": chunk_delta}, kernels=KERNELS,
    layer=LAYER,
)  # fmt: skip
