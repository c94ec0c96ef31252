"""The gated delta rule: the delta rule with a per-token decay of the whole fast weight matrix.

    S_t = α_t (I − β_t k_t k_tᵀ) S_{t-1} + β_t k_t v_tᵀ,   α_t = exp(g_t) ∈ (0, 1]
    o_t = S_tᵀ q_t

(paper: W_t = α_t W_{t-1} (I − β_t k_t k_tᵀ) + β_t v_t k_tᵀ, W = Sᵀ). Yang, Kautz, Hatamizadeh,
"Gated Delta Networks" (arXiv:2412.06464). The gate ``g: [B, T, H]`` is a log-decay (``g ≤ 0``);
with ``g = 0`` this is the delta rule. Chunk form shared with ``delta``
(``fastweights.ops.rules.delta_chunk``), and so are the kernel forms (``triton_recurrent``,
``triton_chunk``).
"""

from __future__ import annotations

from torch import Tensor

from fastweights.ops.rule import LearningRule, recurrent
from fastweights.ops.rules import delta
from fastweights.ops.rules.delta_chunk import chunk_delta


def step(
    S: Tensor, q_t: Tensor, k_t: Tensor, v_t: Tensor, beta_t: Tensor, *, g: Tensor
) -> tuple[Tensor, Tensor]:
    """One token: decay ``S`` by ``exp(g_t) [B, H]``, then one delta-rule step."""
    return delta.step(S * g.exp()[..., None, None], q_t, k_t, v_t, beta_t)


gated_delta_rule = LearningRule(
    "gated_delta", step, {"recurrent": recurrent(step), "chunk": chunk_delta}, gates=("g",),
    kernels=delta.KERNELS, layer=delta.LAYER,  # as a layer: as DeltaNet, plus the learned gate
)  # fmt: skip
